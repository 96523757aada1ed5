"""The producer and the job against a secured broker: SASL_SSL with SCRAM users and ACLs.

One local Kafka node (local/kafka/kafka.sh with KAFKA_SECURITY_DIR) takes clients only over
SASL_SSL, with a CA and a certificate for localhost made now by local/kafka/certs.sh, SCRAM users
created when its storage is formatted, and StandardAuthorizer: tickets-producer may write the
topic, tickets-job may read it, write its dead-letter topic and commit its consumer group's offsets;
nothing else is allowed. Passwords are random for each run; the
last test looks for them in every log and output the others left.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from tests.harness import command_lines, expected_counts, ledger_of, looking
from tickets_job.settings import Settings as JobSettings
from tickets_kafka.client import ClientSettings
from tickets_kafka.probe import dial, speaks_kafka
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env
from tickets_local.process import ROOT, StepError

SECURED_BROKER_PORT = 19792
USERS = ("admin", "tickets-producer", "tickets-job")  # the first is the broker's own super user
WRONG_PASSWORD = f"wrong-{secrets.token_hex(8)}"
FAKE_AWS_SECRET = f"fake-aws-secret-{secrets.token_hex(8)}"
NON_ASCII = "-pässwörd-🎫"  # Spark's JAAS configuration once made it "-pu00e4sswu00f6rd-..."

pytestmark = pytest.mark.e2e


@dataclass
class Secured:
    broker: Broker
    topic: str
    tls: Path
    passwords: dict[str, str]
    arguments: set[bytes]  # every process's arguments seen while the broker was formatted and started

    def client_env(self, user: str, **extra: str) -> dict[str, str]:
        """A client of `user` reading its password from a file, as from a Docker secret."""
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "KAFKA_TOPIC": self.topic,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD_FILE": str(self.tls / f"{user}.password"),
            "KAFKA_SSL_CAFILE": str(self.tls / "ca.pem"),
            **extra,
        }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tls = tmp_path_factory.mktemp("tls")
    subprocess.run([str(ROOT / "local/kafka" / "certs.sh"), str(tls)], check=True, capture_output=True)
    # The services' passwords are not ASCII: each must reach the broker as it is, through
    # kafka-python (the producer) and through Spark's JAAS configuration (the job) alike.
    passwords = {user: secrets.token_urlsafe(18) + ("" if user == "admin" else NON_ASCII) for user in USERS}
    scram_users = tls / "scram-users"
    scram_users.write_text("".join(f"{user} {passwords[user]}\n" for user in USERS), "utf-8")
    for user, password in passwords.items():
        (tls / f"{user}.password").write_text(password + "\n", "utf-8")
    scram_users.chmod(0o644)  # kafka.sh refuses it so
    broker = Broker(
        port=SECURED_BROKER_PORT, state_dir=tmp_path_factory.mktemp("secured-kafka"), security_dir=tls
    )
    with pytest.raises(StepError, match=r"scram-users holds passwords and others may read it \(mode 644\)"):
        broker.up(timeout=600)
    scram_users.chmod(0o600)
    with arguments_seen() as arguments:
        broker.up(timeout=600)
    topic = broker.create_topic()
    grants = {
        ("tickets-producer", "--topic", topic): ("Write", "Describe"),
        ("tickets-job", "--topic", topic): ("Read", "Describe"),
        ("tickets-job", "--topic", f"{topic}.dlq"): ("Write", "Describe"),
        ("tickets-job", "--group", JobSettings().group_id): ("Read",),
        # A dead-letter topic the job may see but not write (test_6).
        ("tickets-job", "--topic", f"{topic}.nowrite"): ("Describe",),
    }
    broker.tool("org.apache.kafka.tools.TopicCommand", "--create", "--topic", f"{topic}.nowrite")
    for (user, kind, resource), operations in grants.items():
        allowed = [argument for operation in operations for argument in ("--operation", operation)]
        acl = ("--add", "--allow-principal", f"User:{user}", *allowed, kind, resource)
        broker.tool("org.apache.kafka.tools.AclCommand", *acl)
    yield Secured(broker, topic, tls, passwords, arguments)
    broker.kafka_sh("down")


@contextlib.contextmanager
def arguments_seen() -> Iterator[set[bytes]]:
    """The command lines of every process of the machine, read from /proc as often as it can be
    while the block runs (each distinct one once)."""
    seen: set[bytes] = set()

    with looking(lambda: seen.update(command_lines())):
        yield seen


def produce(env: dict[str, str], cwd: Path) -> tuple[int, str, float]:
    """tickets_producer with `env`: its exit code, its log and how long it took."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tickets_producer"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (cwd / f"producer-{time.monotonic_ns()}.log").write_text(done.stderr)  # for the secrets test
    return done.returncode, done.stderr, time.monotonic() - started


def bounded_job(secured: Secured, user: str, workdir: Path, **extra: str) -> tuple[Job, int, float]:
    """The job over what the topic holds, as `user`: the job, its exit code and its duration."""
    env = {**job_env(secured.broker, secured.topic, workdir), **secured.client_env(user, **extra)}
    started = time.monotonic()
    job = Job(env=env, log_path=workdir / "spark.log").start("--bounded")
    return job, job.wait(timeout=300), time.monotonic() - started


def test_1_producer_and_job_over_sasl_ssl_with_scram_sha_512(secured, tmp_path):
    env = secured.client_env(
        "tickets-producer",
        TICKET_COUNT="300",
        TICKET_SEED="1101",
        PRODUCER_LEDGER=str(tmp_path / "ledger.jsonl"),
    )
    code, said, _ = produce(env, tmp_path)
    assert code == 0, said[-3000:]
    ledger = ledger_of(tmp_path / "ledger.jsonl")
    assert len(ledger) == 300

    job, code, _ = bounded_job(secured, "tickets-job", tmp_path)
    assert code == 0, job.log()[-3000:]
    assert "over SASL_SSL SCRAM-SHA-512 as tickets-job" in job.log()
    assert job.counts() == expected_counts(ledger)


def test_2_a_wrong_password_is_named_as_the_cause_and_nothing_is_written(secured, tmp_path):
    wrong = {"KAFKA_SASL_PASSWORD_FILE": "", "KAFKA_SASL_PASSWORD": WRONG_PASSWORD}
    code, said, took = produce(secured.client_env("tickets-producer", **wrong), tmp_path)
    assert code == 2, said[-3000:]
    assert "authentication failed" in said, said[-3000:]
    assert took < 60

    job, code, took = bounded_job(secured, "tickets-job", tmp_path, **wrong)
    assert code == 2, job.log()[-3000:]
    assert "refuses the job: authentication failed" in job.log()
    assert "invalid credentials" in job.log()
    assert took < 120
    assert job.counts() == {}
    assert not (tmp_path / "quarantine").exists() or not any((tmp_path / "quarantine").iterdir())


def test_3_a_plaintext_client_and_a_certificate_for_another_name_are_refused(secured, tmp_path):
    plaintext = {
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "",
        "KAFKA_SASL_USERNAME": "",
        "KAFKA_SASL_PASSWORD_FILE": "",
        "KAFKA_SSL_CAFILE": "",
    }
    code, said, _ = produce(secured.client_env("tickets-producer", **plaintext), tmp_path)
    assert code == 2, said[-3000:]
    assert "speaks TLS and this client PLAINTEXT: set KAFKA_SECURITY_PROTOCOL=SSL" in said
    with dial(secured.broker.bootstrap) as raw:
        assert not speaks_kafka(raw)  # a Kafka request in plain text gets no Kafka answer

    # The certificate names localhost only; 127.0.0.1 is the same broker under a name it does not carry.
    by_address = {"KAFKA_BOOTSTRAP_SERVERS": secured.broker.bootstrap.replace("localhost", "127.0.0.1")}
    code, said, _ = produce(secured.client_env("tickets-producer", **by_address), tmp_path)
    assert code == 2, said[-3000:]
    assert "certificate is not valid for '127.0.0.1'" in said

    stranger = {"KAFKA_SSL_CAFILE": str(secured.tls / "stranger-ca.pem")}
    job, code, _ = bounded_job(secured, "tickets-job", tmp_path, **stranger)
    assert code == 2, job.log()[-3000:]
    assert "the TLS handshake with localhost failed: unable to get local issuer certificate" in job.log()


def test_4_each_user_may_do_only_what_its_acls_allow(secured, tmp_path):
    # The producer's user may write but not read: the job, run as it, is refused the topic. (It may
    # not write the dead-letter topic either, which the job would find first: test_6 covers that.)
    job, code, took = bounded_job(secured, "tickets-producer", tmp_path, DLQ_TOPIC="off")
    assert code == 2, job.log()[-3000:]
    assert (
        f"as tickets-producer may not read topic '{secured.topic}' (topic authorization failed)" in job.log()
    )
    assert took < 120
    code, said, _ = produce(secured.client_env("tickets-producer", TICKET_COUNT="10"), tmp_path)
    assert code == 0, said[-3000:]

    # The job's user may read but not write: the producer, run as it, is refused.
    code, said, _ = produce(secured.client_env("tickets-job", TICKET_COUNT="10"), tmp_path)
    assert code == 2, said[-3000:]
    assert f"as tickets-job may not write to topic '{secured.topic}'" in said
    assert "AuthorizationFailed" in said

    # Nor commit to a group other than its own: the commits (monitoring only) fail, the job counts.
    other_group = {"KAFKA_GROUP_ID": "not-its-group"}
    job, code, _ = bounded_job(secured, "tickets-job", tmp_path / "other-group", **other_group)
    assert code == 0, job.log()[-3000:]
    warnings = [line for line in job.log().splitlines() if "cannot commit the job's offsets" in line]
    assert len(warnings) == 1 and "GroupAuthorizationFailed" in warnings[0], warnings
    assert sum(job.counts().values()) > 0


def test_5_aws_msk_iam_offline_gets_as_far_as_the_login(secured, tmp_path):
    """Both programs load and run Amazon's IAM login with fake credentials; the local broker, which
    offers only SCRAM, then refuses the mechanism. (The IAM check itself needs AWS.)"""
    iam = {
        "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM",
        "KAFKA_SASL_USERNAME": "",
        "KAFKA_SASL_PASSWORD_FILE": "",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEFAKE0001",
        "AWS_SECRET_ACCESS_KEY": FAKE_AWS_SECRET,
        "AWS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # The IAM login module's jar makes a class archive of its own: not worth writing for one run.
        "CLASS_ARCHIVE": "false",
    }
    code, said, _ = produce(secured.client_env("tickets-producer", **iam), tmp_path)
    assert code == 2, said[-3000:]
    assert "does not offer the login SASL_SSL AWS_MSK_IAM (it offers SCRAM-SHA-512, SCRAM-SHA-256)" in said

    job, code, _ = bounded_job(secured, "tickets-producer", tmp_path, **iam)
    log = job.log()
    assert code == 2, log[-3000:]
    assert "Client SASL mechanism 'AWS_MSK_IAM' not enabled in the server" in log
    assert "ClassNotFoundException" not in log and "No LoginModule" not in log


def files_holding(secrets_: list[str], root: Path, skip: set[Path]) -> tuple[list[Path], int]:
    """The files under `root` (outside `skip`) that contain one of `secrets_`, and how many were read."""
    found, read = [], 0
    for path in root.rglob("*"):
        if not path.is_file() or any(path.is_relative_to(folder) for folder in skip):
            continue
        content = path.read_bytes()
        read += 1
        if any(secret.encode() in content for secret in secrets_):
            found.append(path)
    return found, read


def test_6_a_dead_letter_topic_the_job_may_not_write_stops_it_before_counting(secured, tmp_path):
    """A rejected message in the batch, a dead-letter topic without WRITE for the job's user: exit 2,
    one line naming the cause, nothing of the batch counted."""
    tls = secured.client_env("tickets-producer")
    sender = KafkaProducer(
        bootstrap_servers=secured.broker.bootstrap.split(","),
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="tickets-producer",
        sasl_plain_password=secured.passwords["tickets-producer"],
        ssl_cafile=tls["KAFKA_SSL_CAFILE"],
    )
    sender.send(secured.topic, b"not a ticket").get(timeout=30)
    sender.close()

    job, code, _ = bounded_job(secured, "tickets-job", tmp_path, DLQ_TOPIC=f"{secured.topic}.nowrite")
    assert code == 2, job.log()[-3000:]
    errors = [line for line in job.log().splitlines() if " ERROR tickets_job.app" in line]
    assert len(errors) == 1, errors
    assert f"the dead-letter topic '{secured.topic}.nowrite' did not take micro-batch 0's" in errors[0]
    assert "TopicAuthorizationException" in errors[0]
    assert "nothing of that micro-batch was counted" in errors[0]
    assert job.counts() == {}


def test_7_spark_shows_neither_the_client_key_nor_the_password(secured, tmp_path):
    """A job with mutual TLS and a SCRAM login: what explain(True) prints and what the UI's REST API
    serves (the environment, the SQL executions with their plans) hold the options' names, each
    value redacted. Spark's own pattern printed the PEM key of kafka.ssl.keystore.key whole."""
    tls = {
        "KAFKA_SSL_CERTFILE": str(secured.tls / "client.pem"),
        "KAFKA_SSL_KEYFILE": str(secured.tls / "client.key"),
    }
    env = {**job_env(secured.broker, secured.topic, tmp_path), **secured.client_env("tickets-job", **tls)}
    probe = subprocess.run(
        [sys.executable, "-m", "tests.e2e.redaction_probe"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (tmp_path / "spark.log").write_text(probe.stderr)  # for test_12
    assert probe.returncode == 0, probe.stderr[-3000:]
    (tmp_path / "shown.json").write_text(probe.stdout)
    shown = json.loads(probe.stdout)

    key_lines = (secured.tls / "client.key").read_text().splitlines()[1:-1]
    password = secured.passwords["tickets-job"].removesuffix(NON_ASCII)
    for what in ("explain", "environment", "sql"):
        text = json.dumps(shown[what], ensure_ascii=False)
        assert not [line for line in key_lines if line in text], what
        assert password not in text, what
    assert "kafka.ssl.keystore.key=*********(redacted)" in shown["explain"], shown["explain"]
    assert "kafka.sasl.jaas.config=*********(redacted)" in shown["explain"], shown["explain"]
    plans = [execution["planDescription"] for execution in shown["sql"]]
    assert any("kafka" in plan.lower() for plan in plans), plans
    assert ["spark.app.name", "client-tickets"] in shown["environment"]["sparkProperties"]


def test_8_the_brokers_passwords_are_in_files_only_its_user_reads_and_in_no_process_arguments(secured):
    """kafka.sh formats the storage with every SCRAM user (the storage tool's --add-scram) and
    writes the super user's password into the nodes' and the tools' properties."""
    node = secured.broker.state_dir / "node-1"
    for path in (secured.tls / "scram-users", secured.tls / "admin.properties", node / "server.properties"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert not list(node.glob("*.args"))  # the storage tool's argument file is gone
    assert any(b"kafka.Kafka" in arguments for arguments in secured.arguments)  # the watch saw the node
    for user, password in secured.passwords.items():
        head = password.removesuffix(NON_ASCII).encode()
        assert not [arguments for arguments in secured.arguments if head in arguments], user


def controller_client(secured: Secured, tmp_path: Path, name: str, **settings: str) -> Path:
    """A properties file for a Kafka tool at the controller listener, giving up within seconds
    unless `settings` say otherwise."""
    path = tmp_path / f"{name}.properties"
    quick = {"request.timeout.ms": "3000", "default.api.timeout.ms": "8000", "retries": "0"}
    path.write_text("".join(f"{key}={value}\n" for key, value in {**quick, **settings}.items()))
    return path


def test_9_the_controller_listener_takes_only_the_nodes_own_certificate(secured, tmp_path):
    """Kafka's controller listener serves ACL changes too (the tools' --bootstrap-controller): a
    client without the nodes' certificate may not grant itself anything there, whatever it offers."""
    classpath = secured.broker.kafka_sh("classpath").stdout.strip()
    controller = f"localhost:{SECURED_BROKER_PORT + 1}"
    trust = {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(secured.tls / "ca.pem")}
    client_keystore = tmp_path / "client-keystore.pem"
    client_keystore.write_text(
        (secured.tls / "client.key").read_text() + (secured.tls / "client.pem").read_text()
    )

    def acls(command_config: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["java", "-cp", classpath, "org.apache.kafka.tools.AclCommand", *args]
        command += ["--bootstrap-controller", controller, "--command-config", str(command_config)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    grant_all = ("--add", "--force", "--allow-principal", "User:tickets-producer", "--operation", "All")
    grant_all += ("--topic", "*")
    strangers = {
        "no login": {},
        "TLS without a certificate": {"security.protocol": "SSL", **trust},
        "the client certificate of the same CA": {
            "security.protocol": "SSL",
            **trust,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(client_keystore),
        },
    }
    for name, settings in strangers.items():
        attempt = acls(controller_client(secured, tmp_path, name.replace(" ", "-"), **settings), *grant_all)
        assert attempt.returncode != 0 or "Error" in attempt.stdout + attempt.stderr, (name, attempt.stdout)
    assert "ClusterAuthorizationException" in attempt.stdout + attempt.stderr  # through TLS, not allowed

    node = {"security.protocol": "SSL", **trust, "ssl.keystore.type": "PEM"}
    node["ssl.keystore.location"] = str(secured.tls / "broker.pem")
    # The one client expected in: the strangers' 8 s is too short on a loaded machine (CI once
    # timed out "waiting for a node assignment" here, its TLS handshake beside the Docker test).
    node |= {"request.timeout.ms": "30000", "default.api.timeout.ms": "90000"}
    listed = acls(controller_client(secured, tmp_path, "node", **node), "--list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "principal=User:tickets-job" in listed.stdout  # the fixture's grants
    assert "name=*" not in listed.stdout  # and none of the strangers'


def test_10_the_producer_on_python_3_13_accepts_the_certificates_under_strict_verification(secured, tmp_path):
    """Python 3.13's default TLS context sets VERIFY_X509_STRICT: a CA without keyUsage, as
    certs.sh once made it, is refused there ("CA cert does not include key usage extension")."""
    python = ROOT / ".cache" / "python3.13" / "bin" / "python"
    assert python.exists(), "make test-tools makes Python 3.13's environment"
    strict = "import ssl, sys; print(sys.version_info[:2], bool(ssl.create_default_context().verify_flags"
    strict += " & ssl.VERIFY_X509_STRICT))"
    assert subprocess.run([python, "-c", strict], capture_output=True, text=True).stdout == "(3, 13) True\n"
    ledger = tmp_path / "ledger.jsonl"
    env = secured.client_env(
        "tickets-producer",
        TICKET_COUNT="20",
        PRODUCER_LEDGER=str(ledger),
        PYTHONPATH=os.pathsep.join(str(ROOT / folder) for folder in ("producer", "common")),
    )
    done = subprocess.run(
        [python, "-m", "tickets_producer"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    (tmp_path / "producer.log").write_text(done.stderr)  # for test_12
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(ledger_of(ledger)) == 20


def test_11_scram_users_sets_a_password_from_a_file_and_kafka_takes_the_login(secured, tmp_path):
    """tickets_kafka.scram_users, as the secured Docker stack's users service runs it: a user made
    with a non-ASCII password read from its file, then its password changed (a rotation); a user
    without ALTER on the cluster may not do it."""
    password_file = tmp_path / "new-user.password"
    command = [sys.executable, "-m", "tickets_kafka.scram_users", f"tickets-new={password_file}"]
    admin = secured.client_env("admin", SCRAM_MECHANISM="SCRAM-SHA-512")
    for password in (f"first-{secrets.token_hex(8)}{NON_ASCII}", f"second-{secrets.token_hex(8)}"):
        password_file.write_text(password + "\n", "utf-8")
        done = subprocess.run(command, env=admin, capture_output=True, text=True, timeout=120)
        (tmp_path / f"scram-users-{len(password)}.log").write_text(done.stderr)  # for test_12
        assert done.returncode == 0, done.stderr[-2000:]
        assert "SCRAM users set (SCRAM-SHA-512): tickets-new" in done.stderr
        admin_client = KafkaAdminClient(
            **ClientSettings.from_env(
                secured.client_env("tickets-new", KAFKA_SASL_PASSWORD_FILE=str(password_file))
            ).kafka_python_args("test")
        )
        admin_client.close()  # logged in: the constructor bootstraps with the login

    not_allowed = subprocess.run(
        command, env=secured.client_env("tickets-job"), capture_output=True, text=True
    )
    assert not_allowed.returncode == 2
    assert "Kafka refused to set the password of user 'tickets-new'" in not_allowed.stderr


def test_11_the_job_and_the_producer_log_at_debug(secured, tmp_path):
    """The job (whose topic-identity check and dead-letter check make kafka-python clients, which
    log their whole configuration at DEBUG) and the producer at LOG_LEVEL=DEBUG: their logs are
    left for test_12 to search."""
    env = secured.client_env("tickets-producer", TICKET_COUNT="10", LOG_LEVEL="DEBUG")
    code, log, _ = produce(env, tmp_path)
    assert code == 0, log[-3000:]
    job, code, _ = bounded_job(secured, "tickets-job", tmp_path, LOG_LEVEL="DEBUG")
    assert code == 0, job.log()[-3000:]
    assert " DEBUG tickets_producer.app: settings: " in log
    assert " DEBUG tickets_job.app: settings: " in job.log()


def test_12_no_password_shows_in_any_log_or_output(secured, tmp_path_factory):
    """Every file the tests above left (producer and job logs, outputs, checkpoints), and the
    broker's log; not the broker's own configuration, nor the password files given to the clients."""
    # Each password's random ASCII head too: it would show a password written escaped.
    heads = [password.removesuffix(NON_ASCII) for password in secured.passwords.values()]
    secrets_ = [*heads, WRONG_PASSWORD, FAKE_AWS_SECRET]
    configuration = {secured.tls, secured.broker.state_dir}
    found, read = files_holding(secrets_, tmp_path_factory.getbasetemp(), configuration)
    assert found == []
    assert read > 20
    broker_log = secured.broker.state_dir / "node-1" / "kafka.log"
    assert not any(secret.encode() in broker_log.read_bytes() for secret in secrets_)

    planted = tmp_path_factory.mktemp("planted") / "a.log"  # the search does find a leak
    planted.write_text(f"password={WRONG_PASSWORD}\n")
    assert files_holding(secrets_, tmp_path_factory.getbasetemp(), configuration)[0] == [planted]
