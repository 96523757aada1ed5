"""The security settings both programs share (tickets_kafka.security): validation, the two
translations (kafka-python, Spark's Kafka source), and a password that never shows."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import socket
import struct
import subprocess
import threading

import pytest
from kafka.net.sasl import get_sasl_mechanism

from tickets_job.connector import resolve_jars
from tickets_job.settings import Settings as JobSettings
from tickets_kafka import program, scram_users
from tickets_kafka.probe import diagnose, tls_mismatch
from tickets_kafka.security import KafkaSecurity, Secret
from tickets_kafka.settings import ConfigError, Env
from tickets_local.process import ROOT
from tickets_producer.settings import Settings as ProducerSettings

SASL_SSL = {
    "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "KAFKA_SASL_USERNAME": "tickets-job",
    "KAFKA_SASL_PASSWORD": 'pa"ss\\word',
}


def read(environ: dict[str, str]) -> tuple[KafkaSecurity, list[str]]:
    env = Env(environ)
    return KafkaSecurity.from_env(env), env.problems


def test_the_default_is_plaintext_without_credentials():
    security, problems = read({})
    assert (security, problems) == (KafkaSecurity(), [])
    assert security.kafka_python_config() == {"security_protocol": "PLAINTEXT"}
    assert security.spark_kafka_options() == {"kafka.security.protocol": "PLAINTEXT"}


def test_sasl_ssl_defaults_to_scram_sha_512_and_checks_host_names():
    security, problems = read(SASL_SSL)
    assert problems == []
    assert (security.protocol, security.mechanism, security.check_hostname) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        True,
    )
    assert security.describe() == "SASL_SSL SCRAM-SHA-512 as tickets-job"
    assert security.kafka_python_config() == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "tickets-job",
        "sasl_plain_password": 'pa"ss\\word',
    }


def test_every_kafka_python_client_gets_the_servers_its_name_and_the_login(monkeypatch):
    settings = JobSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": " a:9092, b:9092 ,", **SASL_SSL})
    args = settings.kafka_python_args("client-tickets-spark-dlq")
    assert args["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert args["client_id"] == "client-tickets-spark-dlq"
    assert args["sasl_plain_username"] == "tickets-job"
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    for name, value in {**MSK_IAM, "AWS_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    ProducerSettings.from_env(program.read_environment()).kafka_python_args("ticket-producer")
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"  # botocore's name, for kafka-python's login


def test_spark_gets_the_login_as_jaas_and_the_ca_as_pem_content(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    security, problems = read({**SASL_SSL, "KAFKA_SSL_CAFILE": str(ca)})
    assert problems == []
    options = security.spark_kafka_options()
    assert options["kafka.ssl.truststore.type"] == "PEM"
    assert options["kafka.ssl.truststore.certificates"] == ca.read_text()  # executors need no file
    assert options["kafka.ssl.endpoint.identification.algorithm"] == "https"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    # Quotes and backslashes in the password are escaped for the JAAS parser.
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="tickets-job" password="pa\\"ss\\\\word";'
    )


# Kafka's own JAAS parser as its clients call it (kafka-clients, the jar the job's connector
# brings): one configuration per NUL-separated record of stdin, its username and password back.
JAAS_PARSER = """
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.common.security.JaasContext;

public class ParseJaas {
    public static void main(String[] args) throws Exception {
        String input = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder();
        for (String text : input.split("\\0")) {
            var context = JaasContext.loadClientContext(Map.of("sasl.jaas.config", new Password(text)));
            var options = context.configurationEntries().get(0).getOptions();
            out.append(options.get("username")).append('\\0').append(options.get("password")).append('\\0');
        }
        System.out.write(out.toString().getBytes(StandardCharsets.UTF_8));
        System.out.flush();
    }
}
"""


def test_kafkas_own_jaas_parser_reads_back_any_password(tmp_path):
    """Non-ASCII, emoji, quotes, backslashes, control characters and line ends all reach the
    broker as they are (JSON's escapes did not: `pässwörd` was read as `pu00e4sswu00f6rd`)."""
    passwords = ["pässwörd", "🎫 tickets", 'a"b\\c', "tab\tbell\x07del\x7f", "line\nend\r", "\u2028\x85", ""]
    login = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", username="jöb")
    configs = [dataclasses.replace(login, password=Secret(p)).jaas_config() for p in passwords]
    classpath = ":".join(str(jar) for jar in resolve_jars(ROOT / "ivy"))  # kafka-clients, slf4j
    (tmp_path / "ParseJaas.java").write_text(JAAS_PARSER)
    parsed = subprocess.run(
        ["java", "-cp", classpath, str(tmp_path / "ParseJaas.java")],
        input="\x00".join(configs).encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    fields = parsed.split("\x00")[:-1]
    assert list(zip(fields[::2], fields[1::2], strict=True)) == [("jöb", p) for p in passwords]


def test_the_password_can_come_from_a_file_such_as_a_docker_secret(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n")
    env = {**SASL_SSL, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)}
    security, problems = read(env)
    assert problems == []
    assert security.password == Secret("from-the-file")


def test_every_problem_is_reported_at_once(tmp_path):
    _, problems = read(
        {
            "KAFKA_SECURITY_PROTOCOL": "TLS",
            "KAFKA_SASL_MECHANISM": "SCRAM",
            "KAFKA_SASL_PASSWORD": "x",
            "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing"),
            "KAFKA_SSL_CAFILE": str(tmp_path / "missing.pem"),
            "KAFKA_SSL_CHECK_HOSTNAME": "perhaps",
        }
    )
    assert sorted(problems) == sorted(
        [
            "KAFKA_SECURITY_PROTOCOL='TLS' must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
            "KAFKA_SASL_MECHANISM='SCRAM' must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM",
            "KAFKA_SSL_CHECK_HOSTNAME='perhaps' must be true or false",
            "set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both",
            f"KAFKA_SSL_CAFILE='{tmp_path / 'missing.pem'}' is not a readable file",
        ]
    )


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL"),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "false", "KAFKA_SSL_CERTFILE": "{file}"}, "does not use TLS"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "{file}"},
            "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM"},
            "AWS_MSK_IAM needs KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM"},
            "AWS_MSK_IAM needs AWS_REGION",
        ),
        (
            {**SASL_SSL, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": "{empty}"},
            "is empty",
        ),
    ],
)
def test_settings_that_do_not_go_together_are_refused(tmp_path, env, problem):
    (tmp_path / "file").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "empty").write_text("")
    env = {k: v.format(file=tmp_path / "file", empty=tmp_path / "empty") for k, v in env.items()}
    _, problems = read(env)
    assert any(problem in said for said in problems), problems


def test_the_password_never_shows_in_a_repr_or_an_error():
    security, _ = read({**SASL_SSL, "KAFKA_SASL_PASSWORD": "hunter2-secret"})
    settings = ProducerSettings(security=security)
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in f"{security} {security.password} {security.describe()}"
    with pytest.raises(ConfigError) as error:
        ProducerSettings.from_env({**SASL_SSL, "KAFKA_SASL_PASSWORD": "hunter2-secret", "TICKET_COUNT": "x"})
    assert "hunter2-secret" not in str(error.value)


# --- diagnose: what a refused client is told ------------------------------------------------------


def serve(handle) -> str:
    """A listening socket on 127.0.0.1 whose connections go to `handle`; its address."""
    listening = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            connection, _ = listening.accept()
            with connection, contextlib.suppress(OSError):  # the probes' first connection says nothing
                handle(connection)

    threading.Thread(target=accept, daemon=True).start()
    return f"127.0.0.1:{listening.getsockname()[1]}"


def test_nobody_listening_is_left_to_the_caller():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = f"127.0.0.1:{probe.getsockname()[1]}"
    assert diagnose([free], KafkaSecurity()) is None


def test_a_plaintext_client_at_a_kafka_listener_needs_no_tls_probe():
    def answer(connection: socket.socket) -> None:
        connection.recv(64)
        connection.sendall(struct.pack(">ii", 100, 7))  # size, the request's correlation id

    assert tls_mismatch([serve(answer)], KafkaSecurity()) is None


def test_a_tls_client_at_a_plaintext_listener_is_told_so():
    server = serve(lambda connection: connection.recv(1024))  # answers no TLS handshake
    security, _ = read({"KAFKA_SECURITY_PROTOCOL": "SSL"})
    said = diagnose([server], security)
    assert said is not None and "TLS handshake with 127.0.0.1 failed" in said


def test_a_sasl_login_refused_after_a_good_handshake_is_named_authentication():
    server = serve(lambda connection: None)  # accepts, then closes
    security, _ = read({**SASL_SSL, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    said = diagnose([server], security, refusal="invalid credentials")
    assert said is not None
    assert said.startswith(f"authentication failed: {server} accepts the connection but not the login")
    assert "(invalid credentials)" in said
    assert 'pa"ss' not in said


def test_a_mechanism_the_broker_does_not_offer_is_named_with_those_it_does():
    def answer(connection: socket.socket) -> None:
        connection.recv(64)  # a SaslHandshake v1 for PLAIN
        offered = b"SCRAM-SHA-256"
        body = struct.pack(f">ihih{len(offered)}s", 11, 33, 1, len(offered), offered)
        connection.sendall(struct.pack(">i", len(body)) + body)

    security, _ = read(
        {**SASL_SSL, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"}
    )
    server = serve(answer)
    said = diagnose([server], security)
    assert said == (
        f"{server} does not offer the login SASL_PLAINTEXT PLAIN as tickets-job (it offers SCRAM-SHA-256): "
        "check KAFKA_SASL_MECHANISM"
    )


def test_the_job_reads_the_same_variables():

    security, _ = read(SASL_SSL)
    assert JobSettings.from_env(SASL_SSL).security == security
    assert ProducerSettings.from_env(SASL_SSL).security == security


# --- AWS_MSK_IAM, offline: the login each client would send ---------------------------------------

FAKE_KEY_ID = "AKIAEXAMPLEFAKE0001"
FAKE_SECRET_KEY = "fake/secret+key/for-the-test-only"
MSK_IAM = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "aws_msk_iam",
    "AWS_REGION": "eu-west-1",
}


@pytest.fixture
def fake_aws(monkeypatch, tmp_path):
    """Credentials from the environment only: no profile file, no instance metadata service."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_DEFAULT_REGION": "eu-west-1",  # botocore's name; the producer copies AWS_REGION to it
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


def test_aws_msk_iam_signs_the_producers_login_with_the_credentials_it_finds(fake_aws):
    security, problems = read(MSK_IAM)
    assert problems == []
    config = security.kafka_python_config()
    assert config == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "sasl_mechanism": "AWS_MSK_IAM",
    }
    mechanism = get_sasl_mechanism("AWS_MSK_IAM")(host="b-1.tickets.kafka.example", **config)
    payload = json.loads(mechanism.auth_bytes())  # what kafka-python sends as its first SASL message
    assert payload["action"] == "kafka-cluster:Connect"
    assert payload["host"] == "b-1.tickets.kafka.example"
    assert payload["x-amz-credential"].startswith(f"{FAKE_KEY_ID}/")
    assert payload["x-amz-credential"].endswith("/eu-west-1/kafka-cluster/aws4_request")
    assert re.fullmatch(r"[0-9a-f]{64}", payload["x-amz-signature"])
    assert FAKE_SECRET_KEY not in json.dumps(payload)


def test_aws_msk_iam_gives_spark_amazons_login_module_and_its_jar():
    security, problems = read(MSK_IAM)
    assert problems == []
    options = security.spark_kafka_options()
    assert options["kafka.sasl.jaas.config"] == "software.amazon.msk.auth.iam.IAMLoginModule required;"
    assert options["kafka.sasl.client.callback.handler.class"] == (
        "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
    )
    assert [package.rsplit(":", 1)[0] for package in security.java_packages()] == [
        "software.amazon.msk:aws-msk-iam-auth"
    ]
    assert read(SASL_SSL)[0].java_packages() == ()


def test_scram_users_names_every_bad_argument_at_once_and_no_password(tmp_path, caplog):
    good = tmp_path / "good"
    good.write_text("a-password\n")
    bom = tmp_path / "bom"
    bom.write_text("\ufeffanother-password\n")
    arguments = ["lonely", f"alice={good}", f"alice={good}", f"bob={bom}", f"carol={tmp_path / 'none'}"]
    assert scram_users.main(arguments, {"SCRAM_MECHANISM": "SCRAM-SHA-1"}) == 2
    [error] = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    for problem in (
        "SCRAM_MECHANISM",
        "'lonely' is not NAME=FILE",
        "user 'alice' is given twice",
        "the password file of user 'bob' starts with a byte-order mark",
        "the password file of user 'carol' cannot be read (No such file or directory)",
    ):
        assert problem in error
    assert "password" not in error.replace("password file", "")
    assert str(tmp_path) not in error
