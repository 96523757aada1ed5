"""Cross-checks of the secured Docker stack (docker-compose.secured.yml over docker-compose.yml)
against the code and the scripts it runs. Each check returns the problems it finds; the tests
expect none for the real files, and some for broken copies, so that a check that cannot fail
would show up here."""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from tests.stackfiles import COMPOSE, ROOT, SECURED, SECURED_FILE, dockerfile, from_image, interpolate
from tickets_job.settings import Settings as JobSettings
from tickets_kafka.security import KafkaSecurity
from tickets_kafka.settings import Env
from tickets_producer.settings import Settings as ProducerSettings

CLIENTS = {"producer": ProducerSettings, "spark": JobSettings}
SECURE_TOPIC = (ROOT / "redpanda" / "secure-topic.sh").read_text()
CERTS_DOCKERFILE = dockerfile("redpanda/certs")


def environment(compose: dict, service: str) -> dict[str, str]:
    return {
        k: interpolate(str(v)) for k, v in (compose["services"][service].get("environment") or {}).items()
    }


def mounts(compose: dict, service: str) -> dict[PurePosixPath, str]:
    """Where each volume of `service` is mounted: container path -> source."""
    found = {}
    for volume in compose["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        found[PurePosixPath(target)] = source
    return found


def volume_of(compose: dict, service: str, path: str) -> str | None:
    """The volume (or host folder) that holds `path` in `service`'s container."""
    for target, source in mounts(compose, service).items():
        if PurePosixPath(path).is_relative_to(target):
            return source
    return None


def users_created(compose: dict) -> dict[str, str]:
    """user -> the Docker secret whose password the users service gives it (NAME=/run/secrets/SECRET),
    for the secrets that service is given."""
    users = compose["services"]["users"]
    given = set(users.get("secrets", []))
    created = dict(argument.split("=", 1) for argument in users["command"])
    return {
        user: PurePosixPath(path).name
        for user, path in created.items()
        if PurePosixPath(path).parent == PurePosixPath("/run/secrets") and PurePosixPath(path).name in given
    }


def acl(user: str) -> set[str]:
    """The operations secure-topic.sh grants `user` on the topic."""
    pattern = rf"--allow-principal User:{user} --operation ([\w,]+) --topic \"\$topic\""
    return {op for match in re.findall(pattern, SECURE_TOPIC) for op in match.split(",")}


def broker_names() -> set[str]:
    return set(re.search(r'^ENV BROKER_NAMES="([^"]+)"$', CERTS_DOCKERFILE, re.M).group(1).split())


def broker_flag(compose: dict, name: str) -> str:
    command = compose["services"]["redpanda"]["command"]
    return next(item.split("=", 1)[1] for item in command if item.startswith(f"{name}="))


def kafka_api_tls(compose: dict) -> list[dict[str, Any]]:
    command = compose["services"]["redpanda"]["command"]
    value = next(item for item in command if item.startswith("redpanda.kafka_api_tls="))
    return json.loads(value.split("=", 1)[1])


STAND_IN_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"  # only its form is read


@contextmanager
def as_in_the_container(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`env` with the files it names (the secret, the CA) present, as they are in the container."""
    with tempfile.TemporaryDirectory() as folder:
        readable = dict(env)
        stand_ins = {"KAFKA_SASL_PASSWORD_FILE": "stand-in\n", "KAFKA_SSL_CAFILE": STAND_IN_PEM}
        for key, content in stand_ins.items():
            if key in env:
                readable[key] = f"{folder}/{PurePosixPath(env[key]).name}"
                Path(readable[key]).write_text(content)
        yield readable


# --- the checks --------------------------------------------------------------------------------


def client_problems(compose: dict) -> Iterator[str]:
    """Each client logs in over SASL_SSL as a user of its own, with its password from a Docker
    secret it is given, trusting the CA that the certs service writes, and may do its job."""
    secrets = set(compose.get("secrets", {}))
    needs = {"producer": "write", "spark": "read"}
    for service, settings in CLIENTS.items():
        env = environment(compose, service)
        with as_in_the_container(env) as readable:
            reading = Env(readable)
            security = KafkaSecurity.from_env(reading)
            settings.from_env(readable)  # the rest of its configuration reads too
        yield from (f"{service}: {problem}" for problem in reading.problems)
        if security.protocol != "SASL_SSL":
            yield f"{service}: logs in over {security.protocol}, not SASL_SSL"
        if "KAFKA_SASL_PASSWORD" in env:
            yield f"{service}: a password in the compose file"
        secret = PurePosixPath(env.get("KAFKA_SASL_PASSWORD_FILE", "")).name
        if env.get("KAFKA_SASL_PASSWORD_FILE") != f"/run/secrets/{secret}" or secret not in secrets:
            yield f"{service}: its password is not a Docker secret of the stack"
        if secret not in compose["services"][service].get("secrets", []):
            yield f"{service}: is not given its secret {secret}"
        user = env.get("KAFKA_SASL_USERNAME")
        if users_created(compose).get(str(user)) != secret:
            yield f"{service}: user {user} is not created by the users service with the secret {secret}"
        if needs[service] not in acl(str(user)):
            yield f"{service}: user {user} may not {needs[service]} the topic"
        if volume_of(compose, service, env.get("KAFKA_SSL_CAFILE", "/")) != "certs":
            yield f"{service}: its CA file is not in the certs volume"


def broker_problems(compose: dict) -> Iterator[str]:
    """TLS on every Kafka listener, from files of the certs volume, with a certificate for every
    name the listeners are advertised as; the bootstrap user is the superuser the scripts use."""
    listeners = {
        item.split("://")[0]: item.split("://")[1] for item in broker_flag(compose, "--kafka-addr").split(",")
    }
    advertised = dict(item.split("://") for item in broker_flag(compose, "--advertise-kafka-addr").split(","))
    tls = {entry["name"]: entry for entry in kafka_api_tls(compose) if entry.get("enabled")}
    for name in listeners:
        if name not in tls:
            yield f"redpanda: listener {name} without TLS"
            continue
        for key in ("cert_file", "key_file", "truststore_file"):
            if volume_of(compose, "redpanda", tls[name][key]) != "certs":
                yield f"redpanda: {key} of {name} is not in the certs volume"
        host = advertised[name].rsplit(":", 1)[0]
        if host not in broker_names():
            yield f"redpanda: listener {name} is advertised as {host}, which the certificate does not name"
    if volume_of(compose, "certs", "/certs/ca.pem") != "certs":
        yield "certs: does not write the certs volume"
    bootstrap = (ROOT / "redpanda" / "bootstrap.secured.yaml").read_text()
    start = (ROOT / "redpanda" / "start-secured.sh").read_text()
    superuser = re.search(r'RP_BOOTSTRAP_USER="(\w+):', start).group(1)
    if f"superusers: [{superuser}]" not in bootstrap or "enable_sasl: true" not in bootstrap:
        yield f"redpanda: the bootstrap user {superuser} is not the superuser, or SASL is off"
    for service in ("redpanda", "topic-init"):
        if environment(compose, service).get("RPK_USER") != superuser:
            yield f"{service}: rpk does not act as the superuser {superuser}"


def test_the_secured_stack_has_no_problems():
    assert list(client_problems(SECURED)) == []
    assert list(broker_problems(SECURED)) == []


def test_a_client_without_its_secret_is_caught():
    broken = copy.deepcopy(SECURED)
    broken["services"]["spark"]["secrets"] = []
    assert list(client_problems(broken)) == ["spark: is not given its secret spark_password"]


def test_a_client_logging_in_as_a_user_nobody_creates_is_caught():
    broken = copy.deepcopy(SECURED)
    broken["services"]["producer"]["environment"]["KAFKA_SASL_USERNAME"] = "tickets"
    assert len(list(client_problems(broken))) == 2  # not created, and no ACL


def test_a_listener_without_tls_is_caught():
    broken = copy.deepcopy(SECURED)
    command = broken["services"]["redpanda"]["command"]
    index = next(i for i, item in enumerate(command) if item.startswith("redpanda.kafka_api_tls="))
    command[index] = "redpanda.kafka_api_tls=" + json.dumps(kafka_api_tls(SECURED)[:1])
    assert list(broker_problems(broken)) == ["redpanda: listener external without TLS"]


def test_the_secured_file_changes_the_stacks_services_and_adds_only_the_certificate_and_user_makers():
    assert set(SECURED_FILE["services"]) - set(COMPOSE["services"]) == {"certs", "users"}


def test_the_user_maker_is_the_producers_image():
    """No image of its own to build or stand in for: tickets_kafka.scram_users is in the producer's."""
    assert SECURED_FILE["services"]["users"]["build"] == COMPOSE["services"]["producer"]["build"]


def test_the_certificate_maker_needs_no_image_of_its_own():
    """Its base is the producer's, so that where images cannot be pulled one stand-in serves both."""
    assert from_image("redpanda/certs") == from_image("producer")


def test_no_password_is_set_in_the_environment_only_paths_to_secrets():
    for name, service in SECURED["services"].items():
        for key in service.get("environment") or {}:
            assert "PASS" not in key or key.endswith("_FILE"), f"{name}: {key}"


def test_console_which_has_no_login_starts_only_when_asked_for():
    """Console reads every topic and asks nobody for a password: in the secured form only with
    COMPOSE_PROFILES=console, and nothing else waits for it."""
    assert SECURED_FILE["services"]["console"]["profiles"] == ["console"]
    for name, service in SECURED["services"].items():
        assert "console" not in (service.get("depends_on") or {}), name
