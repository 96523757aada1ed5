"""What a client can learn about the brokers before Kafka's own client tells it (or fails to):
which bootstrap servers accept a connection, whether they speak TLS, which SASL mechanisms they
offer, and so why a login would fail, in words an operator can act on.

It speaks just enough of the Kafka protocol for that (ApiVersions v0, SaslHandshake v1), on
connections of its own with a short timeout; nothing here sends data or credentials.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator, Sequence

from tickets_kafka.security import KafkaSecurity

PROBE_TIMEOUT = 3.0  # seconds for each connection of a probe


def probe_servers(servers: Sequence[str], timeout: float = PROBE_TIMEOUT) -> Iterator[tuple[str, str | None]]:
    """Each bootstrap server in turn, dialled as it is asked for: (server, None) when it accepts a
    TCP connection, else (server, why not)."""
    for server in servers:
        try:
            dial(server, timeout).close()
        except (OSError, ValueError) as err:
            yield server, str(err) or type(err).__name__
        else:
            yield server, None


def first_answering(servers: Sequence[str]) -> str | None:
    """The first bootstrap server that accepts a TCP connection."""
    return next((server for server, problem in probe_servers(servers) if problem is None), None)


def unanswered(servers: Sequence[str]) -> list[str]:
    """The bootstrap servers that do not accept a connection."""
    return [server for server, problem in probe_servers(servers) if problem is not None]


def unreachable(servers: Sequence[str]) -> str | None:
    """Why none of the bootstrap servers accepts a TCP connection, or None if one does."""
    reasons = []
    for _, problem in probe_servers(servers):
        if problem is None:
            return None
        reasons.append(problem)
    return "; ".join(dict.fromkeys(reasons))


def diagnose(servers: Sequence[str], security: KafkaSecurity, refusal: str | None = None) -> str | None:
    """Why a client with these settings cannot log in, in words an operator can act on: the TLS
    handshake, or else the SASL login (with the broker's `refusal`, when the client saw it). None
    when no bootstrap server accepts a connection at all, or nothing is wrong that a probe can see."""
    answered = first_answering(servers)
    if answered is None:
        return None
    if (problem := tls_mismatch_at(answered, security)) is not None or not security.uses_sasl:
        return problem
    offered = offered_mechanisms(answered, security)
    if offered is not None and security.mechanism not in offered:
        return (
            f"{answered} does not offer the login {security.describe()} (it offers "
            f"{', '.join(offered) or 'no SASL mechanism'}): check KAFKA_SASL_MECHANISM"
        )
    return (
        f"authentication failed: {answered} accepts the connection but not the login of "
        f"{security.describe()} ({refusal or 'it closed the connection at the SASL step'}); "
        "check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) and "
        "KAFKA_SASL_MECHANISM"
    )


def tls_mismatch(servers: Sequence[str], security: KafkaSecurity) -> str | None:
    """Why the first bootstrap server that answers and this client disagree about TLS, if they do
    (a TLS client at a plain listener, an unknown CA, a name the certificate does not carry, a plain
    client at a TLS listener). None when they agree, or when no server answers."""
    answered = first_answering(servers)
    return None if answered is None else tls_mismatch_at(answered, security)


def tls_mismatch_at(answered: str, security: KafkaSecurity) -> str | None:
    """tls_mismatch for one server, which has just accepted a connection."""
    try:
        if security.uses_tls:
            with dial(answered) as raw:
                return tls_refusal(raw, host_of(answered), security)
        with dial(answered) as raw:
            if speaks_kafka(raw):
                return None
        with dial(answered) as raw:
            return plaintext_refusal(raw, answered)
    except OSError:  # gone since it answered
        return None


def dial(server: str, timeout: float = PROBE_TIMEOUT) -> socket.socket:
    """A TCP connection to `server` ("host:port", IPv6 hosts in brackets); OSError or ValueError."""
    host, _, port = server.strip().rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def speaks_kafka(raw: socket.socket) -> bool:
    """Whether a Kafka request in plain text gets a Kafka response: ApiVersions v0, correlation id 7.
    (A TLS listener takes it for a broken handshake and closes the connection.)"""
    request = struct.pack(">hhih", 18, 0, 7, -1)  # api key, version, correlation id, no client id
    raw.sendall(struct.pack(">i", len(request)) + request)
    try:
        return struct.unpack(">ii", receive(raw, 8))[1] == 7
    except ConnectionError:
        return False


def offered_mechanisms(server: str, security: KafkaSecurity) -> list[str] | None:
    """The SASL mechanisms `server` offers, from its answer to a SaslHandshake (v1) for ours; None
    when it gives none (a connection closed, not a Kafka answer)."""
    mechanism = (security.mechanism or "").encode()
    request = struct.pack(f">hhihh{len(mechanism)}s", 17, 1, 11, -1, len(mechanism), mechanism)
    try:
        with dial(server) as raw:
            channel = raw
            if security.uses_tls:
                channel = tls_context(security).wrap_socket(raw, server_hostname=host_of(server))
            channel.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", receive(channel, 4))
            answer = receive(channel, size)
        correlation, _error, count = struct.unpack_from(">ihi", answer)  # error 33: not offered
        offered, at = [], 10
        for _ in range(count):
            (length,) = struct.unpack_from(">h", answer, at)
            offered.append(answer[at + 2 : at + 2 + length].decode())
            at += 2 + length
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return offered if correlation == 11 else None


def receive(channel: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        if not (chunk := channel.recv(size - len(data))):
            raise ConnectionError("closed before the whole answer")
        data += chunk
    return data


def host_of(server: str) -> str:
    return server.strip().rpartition(":")[0].strip("[]")


def tls_context(security: KafkaSecurity) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(security.cafile) if security.cafile else None)
    context.check_hostname = security.check_hostname
    if security.certfile and security.keyfile:  # a broker that requires a client certificate
        context.load_cert_chain(security.certfile, security.keyfile)
    return context


def tls_refusal(raw: socket.socket, host: str, security: KafkaSecurity) -> str | None:
    try:
        with tls_context(security).wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as err:
        return (
            f"the TLS handshake with {host} failed: {err.verify_message} (check KAFKA_SSL_CAFILE, and "
            "that the address in KAFKA_BOOTSTRAP_SERVERS is a name the broker's certificate carries)"
        )
    except (ssl.SSLError, OSError) as err:
        return f"the TLS handshake with {host} failed ({err}): is this a TLS listener?"


def plaintext_refusal(raw: socket.socket, server: str) -> str | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(raw):
            return (
                f"{server} speaks TLS and this client PLAINTEXT: set KAFKA_SECURITY_PROTOCOL=SSL "
                "(or SASL_SSL with credentials)"
            )
    except (ssl.SSLError, OSError):
        return None
