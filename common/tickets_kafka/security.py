"""How the producer and the job authenticate to Kafka: one set of variables (VARIABLES), read and
checked once, the same for both programs.

The same settings become kafka-python's arguments (`kafka_python_config`) and the `kafka.*`
options of Spark's Kafka source (`spark_kafka_options`), which travel with the query to executors
on other machines; AWS_MSK_IAM also needs Amazon's login module jar (`java_packages`), which the job
resolves once with the connector. The password is held in a `Secret`, whose repr is a mask, so
that no log line, exception or summary can show it; only the two translations read its value.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from tickets_kafka.settings import Env, Variable, spelled

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM")

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
    def from_env(cls, env: Env) -> KafkaSecurity:
        """Read the KAFKA_SECURITY_* / KAFKA_SASL_* / KAFKA_SSL_* variables; what is wrong is
        recorded in `env` (the caller reports it with its own problems) and left at its default."""
        security = cls(
            protocol=env.choice("KAFKA_SECURITY_PROTOCOL", PROTOCOLS, cls.protocol) or cls.protocol,
            mechanism=env.choice("KAFKA_SASL_MECHANISM", MECHANISMS, None),
            username=env.text("KAFKA_SASL_USERNAME", None),
            password=password_from(env),
            cafile=pem_file(env, "KAFKA_SSL_CAFILE", CERTIFICATE),
            certfile=pem_file(env, "KAFKA_SSL_CERTFILE", CERTIFICATE),
            keyfile=pem_file(env, "KAFKA_SSL_KEYFILE", PRIVATE_KEY),
            check_hostname=env.flag("KAFKA_SSL_CHECK_HOSTNAME", True),
        )
        if security.mechanism == "AWS_MSK_IAM" and not (
            env.raw("AWS_REGION") or env.raw("AWS_DEFAULT_REGION")
        ):
            env.problem("KAFKA_SASL_MECHANISM=AWS_MSK_IAM needs AWS_REGION: the region of the MSK cluster")
        return security.checked(env.problems)

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
        username = jaas_literal(self.username or "")
        password = jaas_literal(self.password.reveal() if self.password else "")
        return f"{module} required username={username} password={password};"


VARIABLES = (
    Variable(
        "KAFKA_SECURITY_PROTOCOL",
        spelled(KafkaSecurity.protocol),
        "PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (a login over TLS): docs/SECURITY.md",
    ),
    Variable(
        "KAFKA_SASL_MECHANISM",
        "",
        "with SASL_*: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (empty: SCRAM-SHA-512) or AWS_MSK_IAM",
    ),
    Variable("KAFKA_SASL_USERNAME", "", "the SASL user (PLAIN and SCRAM)"),
    Variable("KAFKA_SASL_PASSWORD", "", "its password; better, KAFKA_SASL_PASSWORD_FILE (never both)"),
    Variable("KAFKA_SASL_PASSWORD_FILE", "", "a file whose first line is the password: a Docker secret"),
    Variable(
        "KAFKA_SSL_CAFILE",
        "",
        "with SSL or SASL_SSL: the CA certificates (PEM) to check the brokers against (empty: the system's)",
    ),
    Variable("KAFKA_SSL_CERTFILE", "", "a client certificate (PEM) for mutual TLS, with KAFKA_SSL_KEYFILE"),
    Variable("KAFKA_SSL_KEYFILE", "", "the client certificate's unencrypted key (PEM, PKCS#8)"),
    Variable(
        "KAFKA_SSL_CHECK_HOSTNAME",
        spelled(KafkaSecurity.check_hostname),
        "false skips the check that a broker's certificate names the host dialled (for a test only)",
    ),
    Variable(
        "AWS_REGION",
        "",
        "with AWS_MSK_IAM or an s3a:// location: the region (the credentials: AWS's chain)",
    ),
    Variable(
        "AWS_DEFAULT_REGION", "", "the region for AWS_MSK_IAM when AWS_REGION is not set (botocore's name)"
    ),
)


JAAS_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def jaas_literal(text: str) -> str:
    """`text` as a quoted string of Kafka's JAAS parser (java.io.StreamTokenizer): a backslash
    escapes the quote, itself and the two line ends, which would end the string; every other
    character, non-ASCII or control, stands for itself. (JSON's escapes do not fit: the parser reads
    `\\u00e4` as `u00e4`.)"""
    return '"' + text.translate(JAAS_ESCAPES) + '"'


# What the PEM files must hold, as both clients read them (kafka-clients takes PKCS#8 keys only),
# and how a DER or PKCS#1 file is converted.
CERTIFICATE = (re.compile(rb"-----BEGIN CERTIFICATE-----"), "a certificate", "openssl x509 -inform der")
ANY_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
PRIVATE_KEY = (
    re.compile(rb"-----BEGIN (ENCRYPTED )?PRIVATE KEY-----"),
    "a PKCS#8 private key",
    "openssl pkcs8 -topk8 -nocrypt",
)


def pem_file(env: Env, name: str, holds: tuple[re.Pattern[bytes], str, str]) -> Path | None:
    """A readable PEM file holding a certificate or a key: anything else (a DER file) is refused
    before Spark starts, instead of by the Kafka client when the query connects. (One read: it
    tells a missing or unreadable file as well as a check beforehand would.)"""
    path = env.path(name, None)
    if path is None:
        return None
    marker, what, convert = holds
    try:
        content = path.read_bytes()
    except OSError:
        env.problem(f"{name}={str(path)!r} is not a readable file")
        return None
    if not marker.search(content):
        env.problem(
            f"{name}={str(path)!r} is not a PEM file holding {what} "
            f"(convert it: {convert} -in FILE -out FILE.pem)"
        )
        return None
    if holds is CERTIFICATE and ANY_PRIVATE_KEY.search(content):
        # A certificate is handed around (to the JVM's truststore, to executors' options); a key is not.
        env.problem(
            f"{name}={str(path)!r} holds a private key as well: give the certificates alone, "
            "and the client's key in KAFKA_SSL_KEYFILE"
        )
        return None
    return path


def password_from(env: Env) -> Secret | None:
    """KAFKA_SASL_PASSWORD (as it is: spaces count), or the first line of KAFKA_SASL_PASSWORD_FILE
    (a Docker secret). Neither is ever echoed: the file's name may be the password put in the wrong
    variable."""
    inline = env.env.get("KAFKA_SASL_PASSWORD", "")
    path = env.raw("KAFKA_SASL_PASSWORD_FILE")
    if inline and path:
        env.problem("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
        return None
    if path:
        return password_in_file(env, Path(path), "KAFKA_SASL_PASSWORD_FILE", "it names the password's file")
    return Secret(inline) if inline else None


def password_in_file(env: Env, path: Path, name: str, hint: str) -> Secret | None:
    """The first line of the UTF-8 file at `path` (up to its newline), which `name` gives; a problem
    naming `name`, never the file or its content, when it cannot be the password."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        env.problem(f"{name} cannot be read ({err.strerror or type(err).__name__}): {hint}")
        return None
    except UnicodeDecodeError:
        env.problem(f"{name} is not UTF-8 text")
        return None
    first = text.split("\n", 1)[0].removesuffix("\r")
    if first.startswith("\ufeff"):
        env.problem(f"{name} starts with a byte-order mark: save it as UTF-8 without one")
        return None
    if breaks := sorted({f"U+{ord(char):04X}" for char in first if len(f"a{char}b".splitlines()) > 1}):
        env.problem(
            f"{name}'s first line holds a line separator ({', '.join(breaks)}): "
            "the password is the whole first line, up to its newline"
        )
        return None
    if not first:
        env.problem(f"{name}'s first line is empty")
        return None
    return Secret(first)
