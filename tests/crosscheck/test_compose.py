"""Cross-checks of the Docker stack against the code: compose files cannot run here, so they are read.

Each check returns the problems it finds; the tests expect none for the real files, and expect some
for copies of the compose file with a volume removed or a variable renamed, so a check that cannot
fail would show up here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import pyspark
import pytest

from tests.harness import RecordingEnv
from tests.stackfiles import (
    CLUSTER,
    CLUSTER_FILE,
    COMPOSE,
    LAKE,
    ROOT,
    arg_default,
    dockerfile,
    from_image,
    interpolate,
)
from tickets_job.connector import KAFKA_CONNECTOR
from tickets_job.settings import Settings as JobSettings
from tickets_job.storage import is_s3
from tickets_local import env_example, s3
from tickets_local.run import DEMO_OFFSETS_PER_TRIGGER
from tickets_producer.settings import Settings as ProducerSettings

SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SETTINGS = {"producer": ProducerSettings, "spark": JobSettings}


def variables_read_by(service: str) -> set[str]:
    env = RecordingEnv()
    SETTINGS[service].from_env(env)
    return env.asked


def environment(compose: dict, service: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        k: interpolate(str(v), env)
        for k, v in (compose["services"][service].get("environment") or {}).items()
    }


ENV_LINE = re.compile(r"^(#?)([A-Z_][A-Z0-9_]*)=(.*)$")


def env_example_lines(text: str) -> list[tuple[bool, str, str]]:
    """(commented out, name, value) for each setting line of an .env.example text."""
    return [
        (match.group(1) == "#", match.group(2), match.group(3))
        for match in map(ENV_LINE.match, text.splitlines())
        if match is not None
    ]


def documented_variables() -> set[str]:
    return {name for _, name, _ in env_example_lines((ROOT / ".env.example").read_text())}


# --- the checks --------------------------------------------------------------------------------


# Read by AWS's standard credential chain (botocore's, S3A's), not by the job's settings.
AWS_CHAIN = {"AWS_SHARED_CREDENTIALS_FILE"}


def unknown_variables(compose: dict) -> Iterator[str]:
    """Variables set for a service whose code never reads them (a typo or a rename)."""
    for service in SETTINGS:
        for name in set(environment(compose, service)) - variables_read_by(service) - AWS_CHAIN:
            yield f"{service}: {name} is set in compose but the code does not read it"


def paths_outside_volumes(compose: dict) -> Iterator[str]:
    """Folders the Spark job writes that would vanish with its container."""
    workdir = PurePosixPath(re.search(r"^WORKDIR (\S+)$", dockerfile("spark"), re.M).group(1))
    mounts = [
        PurePosixPath(volume.split(":")[1])
        for volume in compose["services"]["spark"].get("volumes", [])
        if volume.startswith("./")
    ]
    settings = driver_settings(compose)
    for path in (
        settings.output_dir,
        settings.quarantine_dir,
        settings.checkpoint_dir,
        settings.lake_uri,
        settings.ivy_dir,
    ):
        if is_s3(str(path)):
            continue  # on the S3 server's volume (the lake form)
        absolute = workdir / str(path)
        if not any(absolute.is_relative_to(mount) for mount in mounts):
            yield f"spark writes {absolute}, which is on no mounted volume {mounts}"


@pytest.mark.parametrize("compose", [COMPOSE, LAKE], ids=["docker-compose.yml", "the lake form"])
def test_the_real_stack_has_no_problems(compose):
    assert list(unknown_variables(compose)) == []
    assert list(paths_outside_volumes(compose)) == []


def test_a_renamed_variable_is_caught():
    broken = copy.deepcopy(COMPOSE)
    env = broken["services"]["spark"]["environment"]
    env["MAX_OFFSET_PER_TRIGGER"] = env.pop("MAX_OFFSETS_PER_TRIGGER")
    assert list(unknown_variables(broken)) == [
        "spark: MAX_OFFSET_PER_TRIGGER is set in compose but the code does not read it"
    ]


def test_a_removed_volume_is_caught():
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["spark"]["volumes"].remove("./data:/app/data")
    problems = list(paths_outside_volumes(broken))
    assert len(problems) == 4  # the output, the quarantine, the checkpoint and the lake
    assert all("/app/data/" in problem for problem in problems)


# --- agreement between the stack, the code and the docs -------------------------------------------


def test_every_variable_is_documented_in_env_example():
    documented = documented_variables()
    read = set().union(*(variables_read_by(service) for service in SETTINGS))
    kafka_sh = set(re.findall(r"\$\{([A-Z_]+):-", (ROOT / "local/kafka" / "kafka.sh").read_text()))
    compose_lines = [
        line
        for name in ("docker-compose.yml", "docker-compose.cluster.yml")
        for line in (ROOT / name).read_text().splitlines()
    ]
    code = "\n".join(line for line in compose_lines if not line.lstrip().startswith("#"))
    interpolated = set(re.findall(r"\$\{(\w+)", code))
    assert read - documented == set()
    assert kafka_sh - documented == set()
    assert interpolated - documented == set()


@pytest.mark.parametrize("service", ["producer", "spark"])
def test_containers_reach_redpanda_on_its_internal_listener(service):
    advertised = next(
        flag.split("=", 1)[1]
        for flag in SERVICES["redpanda"]["command"]
        if flag.startswith("--advertise-kafka-addr=")
    )
    internal = dict(item.split("://") for item in advertised.split(","))["internal"]
    assert environment(COMPOSE, service)["KAFKA_BOOTSTRAP_SERVERS"] == internal
    assert environment(COMPOSE, "console")["KAFKA_BROKERS"] == internal  # no protocol prefix


def test_topic_and_partitions_agree():
    init = environment(COMPOSE, "topic-init")
    assert init["KAFKA_TOPIC"] == ProducerSettings().topic == JobSettings().topic
    assert environment(COMPOSE, "producer")["KAFKA_TOPIC"] == init["KAFKA_TOPIC"]
    assert environment(COMPOSE, "spark")["KAFKA_TOPIC"] == init["KAFKA_TOPIC"]
    kafka_sh = (ROOT / "local/kafka" / "kafka.sh").read_text()
    assert init["TOPIC_PARTITIONS"] == re.search(r"\$\{KAFKA_PARTITIONS:-(\d+)\}", kafka_sh).group(1) == "3"


def test_every_published_port_is_on_loopback_and_the_external_listener_is_published():
    published = {}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host, host_port, container_port = port.split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            published[int(host_port)] = (name, int(container_port))
    assert published[19092] == ("redpanda", 19092)  # advertised as external://localhost:19092
    assert published[8080] == ("console", 8080)
    assert published[4040] == ("spark", 4040)


def test_spark_image_pyspark_connector_and_pin_agree():
    pin = re.search(r"^pyspark==(\S+)$", (ROOT / "spark" / "requirements.txt").read_text(), re.M).group(1)
    assert arg_default(dockerfile("spark"), "SPARK_VERSION") == pin
    assert SERVICES["spark"]["build"]["args"]["SPARK_VERSION"] == pin
    assert from_image("spark") == f"apache/spark:{pin}-scala2.13-java17-python3-ubuntu"
    assert pyspark.__version__ == pin
    assert KAFKA_CONNECTOR.endswith(f"_2.13:{pin}")
    pins = (ROOT / "spark" / "requirements.txt").read_text()
    assert f"py4j=={version('py4j')}" in pins  # the image gets py4j from this pin, pyspark from Spark


def test_no_image_is_unpinned():
    images = [from_image(service) for service in ("producer", "spark", "redpanda")]
    images += [interpolate(s["image"]) for s in SERVICES.values() if "image" in s]
    images += [
        f"redpandadata/redpanda:{interpolate(SERVICES['redpanda']['build']['args']['REDPANDA_VERSION'])}"
    ]
    for image in images:
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+\.\d+", tag), f"{image} is not pinned"
    assert arg_default(dockerfile("redpanda"), "REDPANDA_VERSION") == interpolate(
        SERVICES["redpanda"]["build"]["args"]["REDPANDA_VERSION"]
    )


def first_party_imports(package: Path) -> set[str]:
    """The project's packages that the modules of `package` import (itself included)."""
    code = "\n".join(path.read_text() for path in package.glob("*.py"))
    return {package.name} | set(re.findall(r"^\s*(?:from|import) (tickets_\w+)", code, re.M))


@pytest.mark.parametrize(("service", "package"), [("producer", "tickets_producer"), ("spark", "tickets_job")])
def test_images_install_every_package_they_import_and_run_it_with_python_m(service, package):
    text = dockerfile(service)
    copied = dict(re.findall(r"^COPY (\S+) /tmp/src/(\S+)$", text, re.M))
    folders = {path.parent.name: path.parent for path in ROOT.glob("*/tickets_*/__init__.py")}
    needed = first_party_imports(folders[package])
    assert needed == {package, "tickets_kafka"}, needed  # the other programs' packages stay out
    for name in needed:
        folder = folders[name].relative_to(ROOT).as_posix()
        assert copied.get(folder) == folder, f"{service}/Dockerfile does not copy {folder}"
        assert f"!{folder}/" in (ROOT / ".dockerignore").read_text().splitlines(), (
            f"{folder} is not in the context"
        )
    assert copied.get("pyproject.toml") == "" or "COPY pyproject.toml /tmp/src/" in text
    assert re.search(r"^RUN pip3? install --no-cache-dir --no-deps /tmp/src ", text, re.M)
    starts = text + ((ROOT / service / "docker-entrypoint.sh").read_text() if service == "spark" else "")
    assert re.search(rf"python3?\"?,? \"?-m\"?,? \"?{package}\b", starts), (
        f"{service} does not run -m {package}"
    )


def test_the_mounted_folders_exist_in_a_fresh_clone():
    for volume in SERVICES["spark"]["volumes"]:
        source = volume.split(":")[0]
        assert (ROOT / source / ".gitkeep").is_file(), f"{source} must exist (with a placeholder) in git"


def test_stack_services_wait_for_what_they_need():
    assert SERVICES["topic-init"]["depends_on"]["redpanda"]["condition"] == "service_healthy"
    for service in ("producer", "spark"):
        assert SERVICES[service]["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
    assert SERVICES["producer"]["restart"] == "no"
    # A crashing job is restarted, but not forever (a configuration error would loop).
    assert re.fullmatch(r"on-failure:[1-9]", SERVICES["spark"]["restart"])


@pytest.mark.parametrize("service", ["producer", "spark"])
def test_the_seeds_monitoring_commands_find_their_containers(service):
    assert SERVICES[service]["container_name"] == service  # docker logs -f producer / spark


@pytest.mark.parametrize(
    ("name", "compose"), [("docker-compose.yml", COMPOSE), ("docker-compose.cluster.yml", CLUSTER_FILE)]
)
def test_the_file_is_valid_for_docker_compose_1_29_too(name, compose):
    # docker-compose 1.29 (Debian 12, Ubuntu 22.04) rejects a top-level `name:`; both tools also
    # check the file with their own `config` in the compose runtime test.
    top_level = {"services", "volumes", "networks", "secrets"}
    assert set(compose) <= top_level | {k for k in compose if k.startswith("x-")}
    # nor can it interpolate ${A:-${B}}: the job would get the text "${B}"
    assert not re.search(r"\$\{[^}]*\$\{", (ROOT / name).read_text())


# --- the cluster form: docker-compose.cluster.yml laid over docker-compose.yml -----------------------

CLUSTER_SERVICES: dict[str, dict[str, Any]] = CLUSTER["services"]
BROKERS = [name for name in CLUSTER_SERVICES if re.fullmatch(r"redpanda(-\d+)?", name)]
SPARK_DAEMONS = [name for name in CLUSTER_SERVICES if name.startswith("spark-")]


def flag(command: list[str], name: str) -> str:
    """The value of `--name=value` or `--name value` in a command."""
    for i, item in enumerate(command):
        if item.startswith(f"{name}="):
            return item.split("=", 1)[1]
        if item == name:
            return command[i + 1]
    raise AssertionError(f"no {name} in {command}")


def driver_settings(compose: dict) -> JobSettings:
    """The job's settings in the cluster form, its Docker secret's file not being on this machine."""
    return JobSettings.from_env({**environment(compose, "spark"), "SPARK_PROPERTIES_FILE": ""})


def test_every_spark_container_of_the_cluster_reads_the_clusters_secret():
    """The master and the workers take only applications that know the secret: each gets the same
    Docker secret, the daemons as their --properties-file, the job as SPARK_PROPERTIES_FILE."""
    secret = f"/run/secrets/{next(iter(CLUSTER['secrets']))}"
    assert environment(CLUSTER, "spark")["SPARK_PROPERTIES_FILE"] == secret
    for service in ["spark", *SPARK_DAEMONS]:
        assert CLUSTER_SERVICES[service]["secrets"] == ["spark_auth"], service
    for daemon in SPARK_DAEMONS:
        assert flag(CLUSTER_SERVICES[daemon]["command"], "--properties-file") == secret, daemon
    assert CLUSTER["secrets"]["spark_auth"]["file"] == "./secrets/spark_auth"


def not_shared_with_the_driver(compose: dict, service: str) -> Iterator[str]:
    """Folders the job's tasks write (the checkpoint with its state) that `service` does not see at
    the driver's path, from the same host folder."""
    driver = compose["services"]["spark"]
    settings = driver_settings(compose)
    for path in (Path(settings.checkpoint_dir), Path(settings.lake_uri), settings.output_dir):
        mount = next(v for v in driver["volumes"] if path.is_relative_to(v.split(":")[1]))
        if mount not in compose["services"][service].get("volumes", []):
            yield f"{service} does not mount {mount}: its executors cannot write {path}"


def test_the_cluster_stack_has_no_problems():
    assert list(unknown_variables(CLUSTER)) == []
    assert list(paths_outside_volumes(CLUSTER)) == []
    assert [
        problem for daemon in SPARK_DAEMONS for problem in not_shared_with_the_driver(CLUSTER, daemon)
    ] == []


def test_a_worker_without_the_data_folder_is_caught():
    broken = copy.deepcopy(CLUSTER)
    broken["services"]["spark-worker-2"]["volumes"] = []
    assert len(list(not_shared_with_the_driver(broken, "spark-worker-2"))) == 3


def test_three_brokers_one_founder_and_every_client_knows_all_three():
    assert len(BROKERS) == 3
    founder = flag(CLUSTER_SERVICES["redpanda"]["command"], "--advertise-rpc-addr")
    internal = []
    for broker in BROKERS:
        command = CLUSTER_SERVICES[broker]["command"]
        seeds = [item for item in command if item.startswith("--seeds")]
        assert seeds == ([] if broker == "redpanda" else [f"--seeds={founder}"])
        advertised = dict(item.split("://") for item in flag(command, "--advertise-kafka-addr").split(","))
        internal.append(advertised["internal"])
        external_port = advertised["external"].split(":")[1]
        assert f"127.0.0.1:{external_port}:{external_port}" in CLUSTER_SERVICES[broker]["ports"]
        assert flag(command, "--rpc-addr") == flag(command, "--advertise-rpc-addr") == f"{broker}:33145"
    everyone = ",".join(internal)
    for service in ("producer", "spark"):
        assert environment(CLUSTER, service)["KAFKA_BOOTSTRAP_SERVERS"] == everyone
    assert environment(CLUSTER, "console")["KAFKA_BROKERS"] == everyone
    init = environment(CLUSTER, "topic-init")
    assert init["RPK_BROKERS"] == everyone
    assert init["TOPIC_REPLICAS"] == str(len(BROKERS))
    assert {b: {"condition": "service_healthy"} for b in BROKERS} == CLUSTER_SERVICES["topic-init"][
        "depends_on"
    ]


def test_the_workers_reach_the_master_and_the_executors_reach_the_driver():
    master = CLUSTER_SERVICES["spark-master"]["command"]
    url = f"spark://{flag(master, '--host')}:{flag(master, '--port')}"
    driver = environment(CLUSTER, "spark")
    assert driver["SPARK_MASTER"] == url
    for worker in ("spark-worker-1", "spark-worker-2"):
        command = CLUSTER_SERVICES[worker]["command"]
        assert command[-1] == url and flag(command, "--host") == worker
        assert command[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    assert driver["SPARK_DRIVER_HOST"] == CLUSTER_SERVICES["spark"]["container_name"] == "spark"
    settings = driver_settings(CLUSTER)
    assert (settings.driver_port, settings.block_manager_port) == (7078, 7079)
    assert "spark-class" in (ROOT / "spark" / "docker-entrypoint.sh").read_text()


def test_the_cluster_publishes_on_loopback_without_clashes():
    published: dict[int, str] = {}
    for name, service in CLUSTER_SERVICES.items():
        for port in service.get("ports", []):
            host, host_port, _ = port.split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            assert int(host_port) not in published, (
                f"{name} and {published[int(host_port)]} both take {host_port}"
            )
            published[int(host_port)] = name
    assert published[8080] == "console"
    webui = flag(CLUSTER_SERVICES["spark-master"]["command"], "--webui-port")
    (master_ui,) = CLUSTER_SERVICES["spark-master"]["ports"]
    assert master_ui.endswith(f":{webui}")


def test_the_spark_daemons_run_the_jobs_image_at_the_pinned_version():
    for daemon in SPARK_DAEMONS:
        assert CLUSTER_SERVICES[daemon]["build"] == CLUSTER_SERVICES["spark"]["build"]


# --- .env.example: a copy of it changes nothing ---------------------------------------------------


def effective_configuration(dotenv: Mapping[str, str]) -> dict[str, object]:
    """What the programs and the stack run with when `dotenv` is the content of .env."""
    config: dict[str, object] = {name: SETTINGS[name].from_env(dotenv) for name in SETTINGS}
    for service in SERVICES:
        config[f"compose:{service}"] = environment(COMPOSE, service, dotenv)
    return config


def changed_by_a_copy(text: str) -> dict[str, object]:
    """The parts of the effective configuration that copying `text` to .env would change."""
    dotenv = {name: value for commented, name, value in env_example_lines(text) if not commented}
    before, after = effective_configuration({}), effective_configuration(dotenv)
    return {key: after[key] for key in before if after[key] != before[key]}


def test_env_example_is_what_the_settings_generate():
    assert (ROOT / ".env.example").read_text() == env_example.render(), "run make env-example"


def test_copying_env_example_to_dotenv_changes_nothing():
    assert changed_by_a_copy((ROOT / ".env.example").read_text()) == {}


def test_an_uncommented_setting_that_changes_the_demo_is_caught():
    text = (
        (ROOT / ".env.example").read_text().replace("#MAX_OFFSETS_PER_TRIGGER=", "MAX_OFFSETS_PER_TRIGGER=")
    )
    assert set(changed_by_a_copy(text)) == {"compose:spark"}  # 200000 instead of the demo's 50


def test_env_example_shows_the_real_defaults():
    kafka_sh = (ROOT / "local/kafka" / "kafka.sh").read_text()
    kafka_defaults = {
        k: v.removeprefix("$root/") for k, v in re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", kafka_sh)
    }
    for _, name, value in env_example_lines((ROOT / ".env.example").read_text()):
        for service, settings in SETTINGS.items():
            if name in variables_read_by(service):
                assert settings.from_env({name: value}) == settings(), (
                    f"{name}={value} is not {service}'s default"
                )
        if name in kafka_defaults:
            assert value == kafka_defaults[name], (
                f"{name}={value}: kafka.sh's default is {kafka_defaults[name]}"
            )


def test_the_demo_batch_size_and_the_redpanda_tag_are_the_same_wherever_they_are_repeated():
    spark = environment(COMPOSE, "spark")
    assert (
        int(spark["MAX_OFFSETS_PER_TRIGGER"]) == DEMO_OFFSETS_PER_TRIGGER
    )  # make run's and the stack's demo
    tag = arg_default(dockerfile("redpanda"), "REDPANDA_VERSION")
    texts = [path.read_text() for path in (ROOT / "docker-compose.yml", ROOT / "docker-compose.cluster.yml")]
    written = [m for text in texts for m in re.findall(r"\$\{REDPANDA_VERSION:-([^}]+)\}", text)]
    written += re.findall(r"^#REDPANDA_VERSION=(\S+)$", (ROOT / ".env.example").read_text(), re.M)
    assert len(written) >= 4 and set(written) == {tag}, written


# --- the lake form: docker-compose.lake.yml laid over docker-compose.yml ----------------------------

LAKE_SERVICES: dict[str, dict[str, Any]] = LAKE["services"]


def test_the_lake_forms_job_keeps_its_tables_and_checkpoint_in_the_bucket_the_s3_server_makes():
    server = LAKE_SERVICES["s3"]
    bucket = server["environment"]["LAKE_BUCKET"]
    settings = driver_settings(LAKE)
    assert settings.lake_uri.startswith(f"s3a://{bucket}/")
    assert settings.checkpoint_dir.startswith(f"s3a://{bucket}/")
    port = server["environment"]["S3PROXY_ENDPOINT"].rsplit(":", 1)[1]
    assert settings.aws_endpoint == f"http://s3:{port}" and settings.aws_region
    assert server["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"/dev/tcp/127.0.0.1/{port}" in server["healthcheck"]["test"][-1]
    assert LAKE_SERVICES["spark"]["depends_on"]["s3"]["condition"] == "service_healthy"


def test_the_lake_forms_key_pair_is_one_credentials_file_for_both_sides():
    assert LAKE["secrets"] == {"lake_credentials": {"file": "./secrets/lake_credentials"}}
    for service in ("s3", "spark"):
        assert LAKE_SERVICES[service]["secrets"] == ["lake_credentials"], service
    assert environment(LAKE, "spark")["AWS_SHARED_CREDENTIALS_FILE"] == "/run/secrets/lake_credentials"
    start = (ROOT / "lake" / "start-s3.sh").read_text()
    assert "credentials=/run/secrets/lake_credentials" in start
    assert "./lake/start-s3.sh:/usr/local/bin/start-s3.sh:ro" in LAKE_SERVICES["s3"]["volumes"]
    assert LAKE_SERVICES["s3"]["entrypoint"][-1] == "/usr/local/bin/start-s3.sh"
    makefile = (ROOT / "Makefile").read_text()
    assert "aws_access_key_id" in makefile and "aws_secret_access_key" in makefile


def test_the_s3_image_is_the_s3_server_the_tests_run():
    assert interpolate(LAKE_SERVICES["s3"]["image"]) == f"andrewgaul/s3proxy:s3proxy-{s3.VERSION}"


def test_make_down_and_clean_know_every_form_and_lint_checks_each():
    makefile = (ROOT / "Makefile").read_text()
    forms = {path.name for path in ROOT.glob("docker-compose*.yml")}
    listed = re.search(r"^ALL_STACK_FILES := ((?:.*\\\n)*.*)$", makefile, re.M)[1]
    assert set(re.findall(r"--file (\S+)", listed)) == forms
    linted = re.search(r"\$\(DCLINT\) (.*?) --max-warnings", makefile)[1]
    assert set(linted.split()) == forms
