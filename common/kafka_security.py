"""How the producer and the job authenticate to Kafka: one set of variables, read and checked once.

Environment (also read from `.env`; the same for both programs):
    KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    KAFKA_SASL_MECHANISM      PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (default with SASL) or AWS_MSK_IAM
    KAFKA_SASL_USERNAME       the SASL user (PLAIN and SCRAM)
    KAFKA_SASL_PASSWORD       its password, or KAFKA_SASL_PASSWORD_FILE: a file holding it (Docker
                              secrets); one of the two, never both
    KAFKA_SSL_CAFILE          PEM file of the CA(s) the brokers' certificates are checked against
                              (default: the system's)
    KAFKA_SSL_CERTFILE        client certificate (PEM) for mutual TLS, with KAFKA_SSL_KEYFILE (its
                              unencrypted PKCS#8 key)
    KAFKA_SSL_CHECK_HOSTNAME  true (default): the broker's certificate must name the host dialled
    AWS_REGION                with AWS_MSK_IAM: the cluster's region; the credentials come from the
                              AWS chain (AWS_ACCESS_KEY_ID..., a profile, the instance or pod role)

The same settings become kafka-python's arguments (`kafka_python_config`) and the `kafka.*`
options of Spark's Kafka source (`spark_kafka_options`), which travel with the query to executors
on other machines; AWS_MSK_IAM also needs Amazon's login module jar (`java_packages`), which the job
resolves once with the connector. The password is held in a `Secret`, whose repr is a mask, so
that no log line, exception or summary can show it; only the two translations read its value.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
PROBE_TIMEOUT = 3.0  # seconds for each connection of a probe (tls_mismatch, diagnose)

# The login modules of the Kafka Java client (Spark's Kafka source) per SASL mechanism.
LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "AWS_MSK_IAM": "software.amazon.msk.auth.iam.IAMLoginModule",
}
MSK_IAM_CALLBACK_HANDLER = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
# The jars a mechanism's login module needs beside Spark's Kafka connector (Maven coordinates).
JAVA_PACKAGES = {"AWS_MSK_IAM": ("software.amazon.msk:aws-msk-iam-auth:2.3.2",)}


class Secret:
    """A value that never shows itself: str(), repr() and f-strings give a mask."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('******')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: Secret | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def describe(self) -> str:
        """For the start-up line: the protocol, the mechanism and the user, never the password."""
        if not self.uses_sasl:
            return self.protocol
        who = f" as {self.username}" if self.username else ""
        return f"{self.protocol} {self.mechanism}{who}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str]) -> KafkaSecurity:
        """Read the KAFKA_SECURITY_* / KAFKA_SASL_* / KAFKA_SSL_* variables; append what is wrong
        to `problems` (the caller reports them with its own) and return the defaults for those."""

        def text(name: str) -> str | None:
            return env.get(name, "").strip() or None

        def readable(name: str) -> Path | None:
            raw = text(name)
            if raw is None:
                return None
            path = Path(raw)
            if not path.is_file():
                problems.append(f"{name}={raw!r} is not a readable file")
                return None
            return path

        protocol = (text("KAFKA_SECURITY_PROTOCOL") or cls.protocol).upper()
        if protocol not in PROTOCOLS:
            problems.append(f"KAFKA_SECURITY_PROTOCOL={protocol!r} must be one of {', '.join(PROTOCOLS)}")
            protocol = cls.protocol
        mechanism = (text("KAFKA_SASL_MECHANISM") or "").upper() or None
        if mechanism is not None and mechanism not in MECHANISMS:
            problems.append(f"KAFKA_SASL_MECHANISM={mechanism!r} must be one of {', '.join(MECHANISMS)}")
            mechanism = None
        check_hostname = (text("KAFKA_SSL_CHECK_HOSTNAME") or "true").lower()
        if check_hostname not in TRUE_WORDS | FALSE_WORDS:
            problems.append(f"KAFKA_SSL_CHECK_HOSTNAME={check_hostname!r} must be true or false")
        security = cls(
            protocol=protocol,
            mechanism=mechanism,
            username=text("KAFKA_SASL_USERNAME"),
            password=password_from(env, problems),
            cafile=readable("KAFKA_SSL_CAFILE"),
            certfile=readable("KAFKA_SSL_CERTFILE"),
            keyfile=readable("KAFKA_SSL_KEYFILE"),
            check_hostname=check_hostname not in FALSE_WORDS,
        )
        if security.mechanism == "AWS_MSK_IAM" and not (text("AWS_REGION") or text("AWS_DEFAULT_REGION")):
            problems.append(
                "KAFKA_SASL_MECHANISM=AWS_MSK_IAM needs AWS_REGION: the region of the MSK cluster"
            )
        return security.checked(problems)

    def checked(self, problems: list[str]) -> KafkaSecurity:
        """The settings that go together, with SCRAM-SHA-512 as the SASL default."""
        if not self.uses_sasl:
            if self.mechanism or self.username or self.password:
                problems.append(
                    f"KAFKA_SASL_* is set but KAFKA_SECURITY_PROTOCOL={self.protocol} does not use SASL "
                    "(SASL_SSL or SASL_PLAINTEXT do)"
                )
            mechanism = None
        else:
            mechanism = self.mechanism or "SCRAM-SHA-512"
            if mechanism == "AWS_MSK_IAM":
                if self.protocol != "SASL_SSL":
                    problems.append("KAFKA_SASL_MECHANISM=AWS_MSK_IAM needs KAFKA_SECURITY_PROTOCOL=SASL_SSL")
            elif not (self.username and self.password):
                problems.append(
                    f"KAFKA_SASL_MECHANISM={mechanism} needs KAFKA_SASL_USERNAME and "
                    "KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)"
                )
        if not self.uses_tls and (self.cafile or self.certfile or self.keyfile):
            problems.append(
                f"KAFKA_SSL_* is set but KAFKA_SECURITY_PROTOCOL={self.protocol} does not use TLS "
                "(SSL or SASL_SSL do)"
            )
        if (self.certfile is None) != (self.keyfile is None):
            problems.append("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mutual TLS)")
        return dataclasses.replace(self, mechanism=mechanism)

    def kafka_python_config(self) -> dict[str, object]:
        """Arguments for kafka-python's KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        config: dict[str, object] = {"security_protocol": self.protocol}
        if self.uses_tls:
            config["ssl_check_hostname"] = self.check_hostname
            if self.cafile:
                config["ssl_cafile"] = str(self.cafile)
            if self.certfile and self.keyfile:
                config["ssl_certfile"] = str(self.certfile)
                config["ssl_keyfile"] = str(self.keyfile)
        if self.uses_sasl:
            config["sasl_mechanism"] = self.mechanism
            if self.mechanism != "AWS_MSK_IAM":
                config["sasl_plain_username"] = self.username
                config["sasl_plain_password"] = self.password.reveal() if self.password else None
        return config

    def spark_kafka_options(self) -> dict[str, str]:
        """`kafka.*` options of Spark's Kafka source: the Java client's settings. Files are given as
        PEM content rather than paths, so that executors on other machines need no copy of them."""
        options = {"kafka.security.protocol": self.protocol}
        if self.uses_tls:
            if self.cafile:
                options["kafka.ssl.truststore.type"] = "PEM"
                options["kafka.ssl.truststore.certificates"] = self.cafile.read_text()
            if self.certfile and self.keyfile:
                options["kafka.ssl.keystore.type"] = "PEM"
                options["kafka.ssl.keystore.certificate.chain"] = self.certfile.read_text()
                options["kafka.ssl.keystore.key"] = self.keyfile.read_text()
            # Empty turns the check off; HTTPS (the Java client's default) checks the name.
            options["kafka.ssl.endpoint.identification.algorithm"] = "https" if self.check_hostname else ""
        if self.uses_sasl:
            options["kafka.sasl.mechanism"] = self.mechanism or ""
            options["kafka.sasl.jaas.config"] = self.jaas_config()
            if self.mechanism == "AWS_MSK_IAM":
                options["kafka.sasl.client.callback.handler.class"] = MSK_IAM_CALLBACK_HANDLER
        return options

    def java_packages(self) -> tuple[str, ...]:
        """What the Java client needs on its classpath for this login, beyond the connector."""
        return JAVA_PACKAGES.get(self.mechanism or "", ())

    def jaas_config(self) -> str:
        module = LOGIN_MODULES[self.mechanism or "SCRAM-SHA-512"]
        if self.mechanism == "AWS_MSK_IAM":
            return f"{module} required;"
        username = json.dumps(self.username or "")  # a JAAS string literal: quotes and backslashes escaped
        password = json.dumps(self.password.reveal() if self.password else "")
        return f"{module} required username={username} password={password};"


def password_from(env: Mapping[str, str], problems: list[str]) -> Secret | None:
    """KAFKA_SASL_PASSWORD, or the first line of KAFKA_SASL_PASSWORD_FILE (a Docker secret)."""
    inline = env.get("KAFKA_SASL_PASSWORD", "")
    path = env.get("KAFKA_SASL_PASSWORD_FILE", "").strip()
    if inline and path:
        problems.append("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
        return None
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            problems.append(f"KAFKA_SASL_PASSWORD_FILE={path!r} cannot be read ({err.strerror})")
            return None
        if not lines or not lines[0]:
            problems.append(f"KAFKA_SASL_PASSWORD_FILE={path!r} is empty")
            return None
        return Secret(lines[0])
    return Secret(inline) if inline else None


def diagnose(bootstrap_servers: str, security: KafkaSecurity, refusal: str | None = None) -> str | None:
    """Why a client with these settings cannot log in, in words an operator can act on: the TLS
    handshake, or else the SASL login (with the broker's `refusal`, when the client saw it). None
    when no bootstrap server accepts a connection at all, or nothing is wrong that a probe can see."""
    answered = first_answering(bootstrap_servers)
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


def tls_mismatch(bootstrap_servers: str, security: KafkaSecurity) -> str | None:
    """Why the first bootstrap server that answers and this client disagree about TLS, if they do
    (a TLS client at a plain listener, an unknown CA, a name the certificate does not carry, a plain
    client at a TLS listener). None when they agree, or when no server answers."""
    answered = first_answering(bootstrap_servers)
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


def first_answering(bootstrap_servers: str) -> str | None:
    """The first bootstrap server that accepts a TCP connection."""
    for server in bootstrap_servers.split(","):
        try:
            dial(server).close()
        except (OSError, ValueError):
            continue
        return server.strip()
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
