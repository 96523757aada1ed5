"""The Docker stack run as a user runs it, on a Docker engine, with the images of tests/compose/images.py.

Each flow works on a copy of this working tree (a fresh clone, with ivy/ already holding the Kafka
connector, so no container needs a network beyond the stack's own) and follows the README:
`make up` -> `docker logs spark` shows 200/200 -> the part file on the host sums to 200 and
belongs to the expected user -> `restart spark` resumes -> `run --rm producer` with the same seed
leaves 200, with another seed gives 400 -> `down` + `up` resumes -> the seed's reset `down -v` +
`up --build`, the new topic filled past the old position first, is refused by the job with the
reset command (the topic's ID differs) -> `make clean` leaves nothing behind.

- Compose v2, the clone owned by uid 1000, which has no passwd entry in the images, every command
  run as that user (a member of the docker group): the job runs as uid 1000.
- docker-compose 1.29 (Debian's), the clone owned by root, as Docker Desktop shows bind mounts:
  the job runs as the image's spark user, uid 185; this flow runs the monitoring form
  (`make up-monitoring`), whose Prometheus scrapes the job and Spark for real.

The first flow also checks the job's consumer group (lag 0 once the counts are in, through
`rpk group describe`) and that the dead-letter topic exists, compacted. The cluster, secured and
lake forms have flows of their own (each test's docstring says what it checks); ivy/ then holds
S3A's jars too, for the lake form.

Run by `make test-compose` (marker `compose`), after tests/compose/engine.sh and images.py.
"""

from __future__ import annotations

import configparser
import contextlib
import grp
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import command_lines, copy_ivy, looking, read_counts, read_lake
from tests.stackfiles import LAKE, ROOT, from_image
from tickets_job.app import QUERY
from tickets_job.connector import resolve_jars
from tickets_job.export import PART_GLOB
from tickets_job.session import java_packages
from tickets_job.settings import Settings
from tickets_local.process import wait_until

pytestmark = pytest.mark.compose
# The streaming query's latency, from Spark's PrometheusServlet (spark.metrics.namespace=client_tickets).
SPARK_STREAMING_METRIC = f"metrics_client_tickets_driver_spark_streaming_{QUERY}_latency_Value"

CACHE = Path(os.environ.get("COMPOSE_TEST_CACHE", ROOT / ".cache" / "compose-test"))
PLUGIN = CACHE / "docker-config" / "cli-plugins" / "docker-compose"
USER_UID = 1000
# The secured flow's user: neither root, nor the spark image's user, nor a Linux machine's first user.
STRICT_UID = 4242
SPARK_UID = 185  # the official image's spark user
OVERRIDES = ["tests/compose/override.yml"]
MONITORING_FILES = ("docker-compose.monitoring.yml",)
CLUSTER_FILES = ["docker-compose.cluster.yml", "tests/compose/override.cluster.yml"]
SECURED_FILES = ["docker-compose.secured.yml", "tests/compose/override.secured.yml"]
LAKE_FILES = ("docker-compose.lake.yml",)
LAKE_BUCKET = LAKE["services"]["s3"]["environment"]["LAKE_BUCKET"]
LAKE_URI = LAKE["services"]["spark"]["environment"]["LAKE_URI"]


@dataclass
class User:
    """Runs commands in the clone as `uid` would in a terminal, with one Compose tool."""

    uid: int
    clone: Path
    home: Path
    compose: list[str]
    more_files: tuple[str, ...] = ()  # laid over the stack (and the test's overrides)
    umask: int = 0o022  # of the user's shell, as of the clone's files
    began: float = field(default_factory=time.monotonic)

    def env(self) -> dict[str, str]:
        files = ["docker-compose.yml", *OVERRIDES, *self.more_files]
        images = json.loads((CACHE / "images.json").read_text())
        if images["console"]["source"] == "missing":
            files.append("tests/compose/no-console.yml")
        if "docker-compose.monitoring.yml" in files and images["grafana"]["source"] == "missing":
            files.append("tests/compose/no-grafana.yml")
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "COMPOSE_FILE": ":".join(files),
            "COMPOSE": " ".join(self.compose),  # what `make` drives
        }

    def run(self, *command: str, timeout: float = 900) -> str:
        code, output = self.attempt(*command, timeout=timeout)
        if code != 0:
            # What the containers said, which the command's own output does not show (a service that
            # exited at start, say).
            _, logs = self.attempt(*self.compose, "logs", "--no-color", "--tail", "40", timeout=120)
            raise AssertionError(f"{' '.join(command)} failed:\n{output}\nthe containers' logs:\n{logs}")
        return output

    def attempt(self, *command: str, timeout: float = 900, **env: str) -> tuple[int, str]:
        """`command` with `env` added to the environment (unseen in the transcript): its exit code
        and what it printed."""
        prefix = ["sh", "-c", f'umask {self.umask:03o} && exec "$@"', "sh"]
        if self.uid != 0:
            docker_gid = grp.getgrnam("docker").gr_gid
            as_user = [f"--reuid={self.uid}", f"--regid={self.uid}", f"--groups={docker_gid}"]
            prefix = ["setpriv", *as_user, *prefix]
        started = time.monotonic()
        result = subprocess.run(
            [*prefix, *command],
            cwd=self.clone,
            env={**self.env(), **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.record(f"$ {' '.join(command)}", result.stdout + result.stderr, took=time.monotonic() - started)
        return result.returncode, result.stdout + result.stderr

    def record(self, title: str, text: str, took: float | None = None) -> None:
        """Keep what the user saw in transcript.txt beside the clone (the README quotes it), each
        entry with the seconds since the flow began, and a command's own (where the time goes)."""
        when = f"{time.monotonic() - self.began:.0f} s" + ("" if took is None else f", took {took:.0f} s")
        with (self.clone.parent / "transcript.txt").open("a") as transcript:
            transcript.write(f"{title}    [{when}]\n{text}\n")

    def stack(self, *args: str) -> str:
        return self.run(*self.compose, *args)


def docker_logs(container: str) -> str:
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    return result.stdout + result.stderr


def wait_for_line(container: str, text: str, times: int = 1, timeout: float = 300) -> None:
    """Until `docker logs container` holds `text` `times` times (a restarted container keeps its log);
    fails at once when the container has stopped for good without it."""

    def seen() -> bool:
        if docker_logs(container).count(text) >= times:
            return True
        inspect = ["docker", "inspect", "--format={{.State.Status}}", container]
        state = subprocess.run(inspect, capture_output=True, text=True).stdout.strip()
        if state == "exited" and docker_logs(container).count(text) < times:
            raise AssertionError(f"{container} exited without {text!r}:\n{docker_logs(container)[-3000:]}")
        return False

    wait_until(seen, timeout, f"{text!r} x{times} in docker logs {container}", poll=1)


def part_file(clone: Path) -> Path:
    (part,) = (clone / "data" / "output" / "client_tickets").glob(PART_GLOB)
    return part


def total(clone: Path) -> int:
    return sum(read_counts(clone / "data" / "output" / "client_tickets").values())


def ensure_connector_in_ivy() -> None:
    """ivy/ with the jars the job of each form asks for (the Kafka connector and Delta Lake; S3A too
    in the lake form), as after native runs: the containers then start offline."""
    for lake_uri in (Settings().lake_uri, LAKE_URI):
        resolve_jars(ROOT / "ivy", java_packages(Settings(lake_uri=lake_uri)))


def make_clone(where: Path, uid: int, umask: int = 0o022) -> Path:
    """The working tree as a fresh clone would have it, plus the Ivy cache, owned by `uid`: each
    file and folder of the tree with the mode git gives it under `umask` (0777 for a folder or an
    executable, 0666 for a file, less the umask's bits)."""
    clone = where / "client-tickets"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
            full = 0o777 if (ROOT / name).stat().st_mode & 0o100 else 0o666
            (clone / name).chmod(full & ~umask)
    for folder in [clone, *(path for path in clone.rglob("*") if path.is_dir())]:
        folder.chmod(0o777 & ~umask)
    # The connector's jars, not the host driver's class archive (the container's JVM makes its own).
    copy_ivy(ROOT / "ivy", clone / "ivy", skip=("class-archive",))
    subprocess.run(["chown", "-R", f"{uid}:{uid}", str(where)], check=True)
    return clone


PROJECT = "com.docker.compose.project"  # the label Compose puts on what it creates


@dataclass(frozen=True)
class Container:
    name: str
    project: str
    folder: str  # where the project was started

    @property
    def left_by_this_test(self) -> bool:
        """Started from a clone this test makes under its cache (of this tree or another one)."""
        return "/.cache/compose-test/flows/" in self.folder


def containers(*names: str) -> list[Container]:
    filters = [f"--filter=name=^{name}$" for name in names]
    fields = f'{{{{.Names}}}}\t{{{{.Label "{PROJECT}"}}}}\t{{{{.Label "{PROJECT}.working_dir"}}}}'
    listed = subprocess.run(
        ["docker", "ps", "--all", f"--format={fields}", *filters], capture_output=True, text=True, check=True
    )
    return [Container(*line.split("\t")) for line in listed.stdout.splitlines()]


def remove_project(project: str) -> None:
    """Its containers, networks and volumes, as `down --volumes` would."""
    label = f"--filter=label={PROJECT}={project}"
    for listing, removal in (
        (["ps", "--all", "--quiet"], ["rm", "--force"]),
        (["network", "ls", "--quiet"], ["network", "rm"]),
        (["volume", "ls", "--quiet"], ["volume", "rm"]),
    ):
        found = subprocess.run(["docker", *listing, label], capture_output=True, text=True, check=True)
        if ids := found.stdout.split():
            subprocess.run(["docker", *removal, *ids], capture_output=True, check=True)


@pytest.fixture(scope="module", autouse=True)
def no_stack_running() -> None:
    """A stack of the user's own is left alone (the test stops); one left by an interrupted run of
    this test is removed, as its `make clean` would have."""
    for container in containers("spark", "producer"):
        if not container.left_by_this_test:
            where = container.folder or "an unknown folder"
            pytest.fail(f"container {container.name} exists, started in {where}: `make down` there first")
        remove_project(container.project)
    ensure_connector_in_ivy()


def user_with(
    tool: list[str], uid: int, name: str, more_files: tuple[str, ...] = (), umask: int = 0o022
) -> User:
    # Not under pytest's tmp_path: its parents are private to root, and the user must reach it.
    where = CACHE / "flows" / name
    if where.exists():
        subprocess.run(["rm", "-rf", str(where)], check=True)
    home = where / "home"
    if tool == ["docker", "compose"]:  # the user's own Compose v2 plugin
        (home / ".docker" / "cli-plugins").mkdir(parents=True)
        (home / ".docker" / "cli-plugins" / "docker-compose").symlink_to(PLUGIN)
    home.mkdir(parents=True, exist_ok=True)
    clone = make_clone(where, uid, umask)
    return User(uid=uid, clone=clone, home=home, compose=tool, more_files=more_files, umask=umask)


TOOLS = {"compose-v2": ["docker", "compose"], "docker-compose-1.29": ["docker-compose"]}


@pytest.mark.parametrize("tool", TOOLS)
def test_the_compose_files_are_valid_for_the_tool(tool):
    user = user_with(TOOLS[tool], 0, f"config-{tool}")
    user.run(*user.compose, "--file", "docker-compose.yml", "config", "--quiet")
    for form in ("docker-compose.cluster.yml", "docker-compose.secured.yml", *LAKE_FILES):
        user.run(*user.compose, "--file", "docker-compose.yml", "--file", form, "config", "--quiet")


def test_uid_1000_has_no_passwd_entry_in_the_images():
    for image in (from_image("spark"), from_image("producer")):
        getent = ["docker", "run", "--rm", "--entrypoint", "getent", image]
        lookup = subprocess.run([*getent, "passwd", str(USER_UID)])
        assert lookup.returncode == 2, f"{image} knows uid {USER_UID}: the test would prove nothing"


def group_lag(user: User, group: str) -> int:
    """The consumer group's total lag, as `rpk group describe` shows it (TOTAL-LAG)."""
    described = user.stack("exec", "-T", "redpanda", "rpk", "group", "describe", group)
    match = re.search(r"^TOTAL-LAG\s+(\d+)", described, re.M)
    assert match is not None, described
    return int(match[1])


def prometheus_value(user: User, query: str) -> float | None:
    """The value of an instant PromQL query, asked inside the Prometheus container (its wget)."""
    url = f"http://localhost:9090/api/v1/query?query={urllib.parse.quote(query)}"
    code, answer = user.attempt(*user.compose, "exec", "-T", "prometheus", "wget", "-q", "-O", "-", url)
    if code != 0:
        return None
    result = json.loads(answer[answer.index("{") :])["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def the_readme_flow(user: User, job_uid: int, full: bool, up: str = "up") -> None:
    """The README's commands in order. Not `full` (the second tool): the restarts, the resume after
    `down` and the resets are left to the first flow; what differs between the tools (their parsing
    and builds, `run`, `make up` / `clean` through them, the owner of ./data) is all still run.
    `up` is the make target that starts the stack (up-monitoring: with Prometheus, checked too)."""
    clone = user.clone
    shown = user.run("make", up)
    if up == "up-monitoring":
        assert "Prometheus: http://localhost:9090" in shown, shown
    assert "Spark UI: http://localhost:4040" in shown
    console = "Console: http://localhost:8080"
    files = user.env()["COMPOSE_FILE"]
    assert (console in shown) == ("no-console.yml" not in files and "secured" not in files), shown

    wait_for_line("spark", "200/200 tickets counted")
    user.record("$ docker logs spark", docker_logs("spark"))
    user.record("$ docker logs producer", docker_logs("producer"))
    assert "sent 200/200, acknowledged 200, failed 0" in docker_logs("producer")
    assert total(clone) == 200
    assert part_file(clone).stat().st_uid == job_uid
    if full:  # the job's lag where users look, and the dead-letter topic
        settings = Settings()
        wait_until(lambda: group_lag(user, settings.group_id) == 0, 60, "the job's consumer group at lag 0")
        dlq = user.stack("exec", "-T", "redpanda", "rpk", "topic", "describe", f"{settings.topic}.dlq")
        assert "cleanup.policy=compact" in dlq or re.search(r"cleanup\.policy\s+compact", dlq), dlq

    if full:
        user.stack("restart", "spark")
        wait_for_line("spark", f"query {QUERY} started", times=2)
        same_seed = user.stack("run", "--rm", "producer")
        assert "sent 200/200, acknowledged 200" in same_seed
        wait_for_line("spark", "200/200 tickets counted", times=2)
        assert total(clone) == 200, "the same tickets again are counted once"

    assert "sent 200/200, acknowledged 200" in user.stack("run", "--rm", "-e", "TICKET_SEED=7", "producer")
    wait_for_line("spark", "400/400 tickets counted")
    user.record("$ docker logs spark", docker_logs("spark"))
    assert total(clone) == 400
    assert not re.search(r"\b400/200\b", docker_logs("spark"))
    if up == "up-monitoring":  # Prometheus scraped the job's count and Spark's own metrics
        wait_until(lambda: prometheus_value(user, "sum(tickets_counted)") == 400, 60, "Prometheus to see 400")
        for job in ("tickets-job", "spark", "spark-executors"):
            assert prometheus_value(user, f'up{{job="{job}"}}') == 1.0, f"Prometheus cannot scrape {job}"
        assert prometheus_value(user, SPARK_STREAMING_METRIC) is not None, "no streaming-query metric"

    if full:
        user.stack("down")
        user.run("make", "up")  # the producer sends its 200 (seed 42) again: nothing new
        wait_for_line("spark", "400/400 tickets counted")  # a new container: its own log
        assert total(clone) == 400
        assert part_file(clone).stat().st_uid == job_uid

        # The seed's reset: the topic goes, ./data stays. The new topic is filled past the old
        # position before the job starts: Spark's position check passes, the topic's ID does not.
        user.stack("down", "--volumes")
        more = user.stack("run", "--rm", "-e", "TICKET_COUNT=1200", "-e", "TICKET_SEED=9", "producer")
        assert "sent 1200/1200, acknowledged 1200" in more
        user.stack("up", "--build", "--detach")
        wait_for_line("spark", "is not the topic the checkpoint")
        user.record("$ docker logs spark", docker_logs("spark"))
        assert "make clean" in docker_logs("spark")
        assert total(clone) == 400, "nothing of the new topic was counted at the old topic's offsets"

    user.run("make", "clean")
    left = sorted(str(path.relative_to(clone)) for path in (clone / "data").rglob("*"))
    assert left == ["data/.gitkeep"]
    assert containers("spark", "producer") == []

    if full:  # from scratch after make clean
        user.run("make", "up")
        wait_for_line("spark", "200/200 tickets counted")
        assert total(clone) == 200
        user.run("make", "clean")


def assert_nothing_left() -> None:
    """No container and no volume of the project (what `make clean` promises)."""
    assert containers("spark", "producer") == []
    for kind in ("ps --all", "volume ls"):
        listing = ["docker", *kind.split(), "--quiet", f"--filter=label={PROJECT}=client-tickets"]
        left = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
        assert left == [], f"make clean leaves {kind}: {left}"


@pytest.fixture
def take_down() -> Iterator[list[User]]:
    """Whatever happens in a flow, its stack goes down with its volumes afterwards."""
    users: list[User] = []
    yield users
    for user in users:
        down = [*user.compose, "down", "--volumes", "--remove-orphans"]
        subprocess.run(down, cwd=user.clone, env=user.env(), capture_output=True)


def test_compose_v2_as_uid_1000_without_a_passwd_entry(take_down):
    user = user_with(TOOLS["compose-v2"], USER_UID, "compose-v2")
    take_down.append(user)
    the_readme_flow(user, job_uid=USER_UID, full=True)


def test_docker_compose_1_29_with_data_owned_by_root_in_the_monitoring_form(take_down):
    user = user_with(TOOLS["docker-compose-1.29"], 0, "docker-compose-1.29", more_files=MONITORING_FILES)
    take_down.append(user)
    the_readme_flow(user, job_uid=SPARK_UID, full=False, up="up-monitoring")


def test_the_cluster_form_with_compose_v2(take_down):
    """docker-compose.cluster.yml: three brokers, the topic at replication factor 3, a Spark master
    and two workers whose executors run the job's tasks; one broker stopped loses nothing."""
    user = user_with(TOOLS["compose-v2"], USER_UID, "cluster", more_files=tuple(CLUSTER_FILES))
    take_down.append(user)
    shown = user.run("make", "up-cluster")
    assert "Spark master UI: http://localhost:8081" in shown

    wait_for_line("spark", "200/200 tickets counted", timeout=600)
    user.record("$ docker logs spark", docker_logs("spark"))
    assert total(user.clone) == 200
    assert part_file(user.clone).stat().st_uid == USER_UID
    topic = Settings().topic
    described = user.stack("exec", "-T", "redpanda", "rpk", "topic", "describe", topic)
    assert re.search(r"ReplicationFactor:\s*3\b|REPLICAS\s+3\b", described), described
    for worker in ("spark-worker-1", "spark-worker-2"):
        assert "Asked to launch executor" in user.stack("logs", worker), f"{worker} ran no executor"

    user.stack("stop", "redpanda-2")  # one of three brokers down: the others hold every partition
    assert "sent 200/200, acknowledged 200" in user.stack("run", "--rm", "-e", "TICKET_SEED=7", "producer")
    wait_for_line("spark", "400/400 tickets counted", timeout=300)
    user.record("$ docker logs spark", docker_logs("spark"))
    assert total(user.clone) == 400

    user.run("make", "clean")
    assert_nothing_left()


@contextlib.contextmanager
def processes_seen(project: str) -> Iterator[set[str]]:
    """The process arguments that any user could read while the block runs: those of every process
    of the machine, read from /proc as often as it answers (a container's processes are the
    machine's), and, when the block ends, the command of every container of the Compose project as
    Docker recorded it, which holds also for one that ran only for a moment, such as `users`."""
    seen: set[str] = set()

    def look() -> None:
        seen.update(line.replace(b"\0", b" ").decode(errors="replace") for line in command_lines())
        time.sleep(0.05)  # some 20 looks a second, not a core of the machine's two

    with looking(look):
        yield seen
    listing = ["docker", "ps", "--all", "--quiet", f"--filter=label={PROJECT}={project}"]
    containers = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
    recorded = ["docker", "inspect", "--format", '{{.Path}} {{join .Args " "}}', *containers]
    seen.update(subprocess.run(recorded, capture_output=True, text=True, check=True).stdout.splitlines())


def test_the_secured_form_with_compose_v2(take_down):
    """docker-compose.secured.yml: SASL/SCRAM over TLS with a user per service and its ACLs, the
    passwords made by `make secrets` and handed over as Docker secrets; a client without TLS, with
    a wrong password or with another service's rights is refused, naming the cause; no password
    in any container's process list; the certificates renewed under the running stack. The clone
    is made under umask 077 (its scripts 0700, its files 0600) by a user of uid 4242."""
    user = user_with(TOOLS["compose-v2"], STRICT_UID, "secured", more_files=tuple(SECURED_FILES), umask=0o077)
    take_down.append(user)
    assert (user.clone / "redpanda" / "create-topic.sh").stat().st_mode & 0o777 == 0o700
    with processes_seen(user.clone.name) as process_lists:
        shown = user.run("make", "up-secured")
        assert "Spark UI: http://localhost:4040" in shown
        wait_for_line("spark", "200/200 tickets counted", timeout=600)
    secrets = user.clone / "secrets"
    assert secrets.stat().st_mode & 0o777 == 0o700 and secrets.stat().st_uid == STRICT_UID
    passwords = {path.name: path.read_text() for path in secrets.iterdir()}
    assert sorted(passwords) == ["admin_password", "console_password", "producer_password", "spark_password"]
    assert len(set(passwords.values())) == 4 and all(len(p) == 32 for p in passwords.values())

    user.record("$ docker logs spark", docker_logs("spark"))
    listed = "\n".join(process_lists)
    assert "-Dlog4j2.configurationFile=/opt/kafka/log4j2.yaml" in listed  # the watch saw the broker's JVM
    assert "tickets_kafka.scram_users producer=/run/secrets/producer_password" in listed  # and `users`
    assert not [name for name, password in passwords.items() if password in listed], "a password in ps"
    assert part_file(user.clone).stat().st_uid == STRICT_UID
    assert "over SASL_SSL SCRAM-SHA-256 as spark" in docker_logs("spark")
    assert "cannot commit" not in docker_logs("spark"), "the job's user may not commit its group's offsets"
    assert "sent 200/200, acknowledged 200, failed 0" in docker_logs("producer")
    assert total(user.clone) == 200

    refused = {
        "speaks TLS and this client PLAINTEXT": {
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            **dict.fromkeys(("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD_FILE"), ""),
            "KAFKA_SSL_CAFILE": "",
        },
        "authentication failed": {"KAFKA_SASL_PASSWORD": "not-the-password", "KAFKA_SASL_PASSWORD_FILE": ""},
        # The job's user, with its own password: it may read the topic, not write to it.
        "may not write to topic": {
            "KAFKA_SASL_USERNAME": "spark",
            "KAFKA_SASL_PASSWORD": passwords["spark_password"],
            "KAFKA_SASL_PASSWORD_FILE": "",
        },
    }
    for cause, env in refused.items():
        passed = [argument for name in env for argument in ("-e", name)]  # values from the environment
        code, output = user.attempt(*user.compose, "run", "--rm", "--no-deps", *passed, "producer", **env)
        assert code == 2 and cause in output, f"{cause}: exit code {code}\n{output[-2000:]}"
    assert total(user.clone) == 200
    kept = user.stack("run", "--rm", "--no-deps", "--entrypoint", "ls", "certs", "/certs").split()
    assert "ca.pem" in kept and "broker.key" in kept and "ca.key" not in kept, kept

    # New certificates (a new CA) under the running stack: Redpanda and the job restart on them,
    # the job resumes from its checkpoint, a producer run trusts the new CA.
    ca_pem = ["run", "--rm", "--no-deps", "--entrypoint", "cat", "certs", "/certs/ca.pem"]
    old_ca = user.stack(*ca_pem)
    user.run("make", "certs-renew")
    assert user.stack(*ca_pem) != old_ca
    wait_for_line("spark", f"query {QUERY} started", times=2, timeout=300)
    assert "sent 200/200, acknowledged 200" in user.stack("run", "--rm", "-e", "TICKET_SEED=7", "producer")
    wait_for_line("spark", "400/400 tickets counted")
    assert total(user.clone) == 400
    said = (user.clone.parent / "transcript.txt").read_text() + docker_logs("spark") + docker_logs("redpanda")
    assert not [name for name, password in passwords.items() if password in said], "a password in a log"

    user.run("make", "clean")
    assert_nothing_left()


def lake_reader_env(user: User) -> dict[str, str]:
    """What a user on the host sets to reach the lake form's tables (docs/DOCKER.md)."""
    return {
        "LAKE_URI": LAKE_URI,
        "AWS_ENDPOINT_URL": "http://localhost:9000",
        "AWS_SHARED_CREDENTIALS_FILE": str(user.clone / "secrets" / "lake_credentials"),
    }


def the_lake(user: User) -> dict[str, str]:
    """The lake's tickets (id -> type) as delta-rs reads them from the S3 server, with the key pair
    of the credentials file; its ticket_counts equal to the part file's counts."""
    credentials = configparser.ConfigParser()
    credentials.read(user.clone / "secrets" / "lake_credentials")
    options = {
        "AWS_ACCESS_KEY_ID": credentials["default"]["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["default"]["aws_secret_access_key"],
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://localhost:9000",
        "AWS_ALLOW_HTTP": "true",
    }
    lake = read_lake(LAKE_URI, options)
    assert lake.counts == read_counts(user.clone / "data" / "output" / "client_tickets")
    return lake.ledger()


def test_the_lake_form_with_compose_v2(take_down):
    """docker-compose.lake.yml: the job's tables and checkpoint on the S3 server, nothing of them
    under ./data; read from the host with delta-rs and with `python -m tickets_query` as
    docs/DOCKER.md says; `down` and `up` resume from the checkpoint on S3, every ticket once."""
    user = user_with(TOOLS["compose-v2"], USER_UID, "lake", more_files=LAKE_FILES)
    take_down.append(user)
    shown = user.run("make", "up-lake")
    assert f"S3 API, the lake's bucket {LAKE_BUCKET}: http://localhost:9000" in shown, shown
    assert LAKE_URI.startswith(f"s3a://{LAKE_BUCKET}/")
    wait_for_line("spark", "200/200 tickets counted", timeout=600)
    user.record("$ docker logs spark", docker_logs("spark"))
    assert total(user.clone) == 200
    assert len(the_lake(user)) == 200
    data = user.clone / "data"
    kept = [str(path.relative_to(data)) for path in data.rglob("*") if path.is_file()]
    assert [name for name in kept if name != ".gitkeep" and not name.startswith("output/")] == [], kept
    assert "local-identity" not in (user.clone / "secrets" / "lake_credentials").read_text()

    query = [
        sys.executable,
        "-m",
        "tickets_query",
        "--json",
        "SELECT support_team, count(*) AS n FROM tickets GROUP BY 1",
    ]
    env = {"PATH": os.environ["PATH"], "HOME": str(user.home), **lake_reader_env(user)}
    answer = subprocess.run(query, cwd=user.home, env=env, capture_output=True, text=True, check=True).stdout
    user.record("$ python " + " ".join(query[1:]), answer)
    teams = {row["support_team"]: row["n"] for row in map(json.loads, answer.splitlines())}
    assert sum(teams.values()) == 200 and "Tech Support" in teams, answer

    user.stack("down")  # keeps the volumes: the S3 server's folder, and in it the checkpoint
    user.run("make", "up-lake")  # the producer sends its 200 (seed 42) again: nothing new
    wait_for_line("spark", f"query {QUERY} started")
    assert "sent 200/200, acknowledged 200" in user.stack("run", "--rm", "-e", "TICKET_SEED=7", "producer")
    wait_for_line("spark", "400/400 tickets counted", timeout=300)
    user.record("$ docker logs spark", docker_logs("spark"))
    assert total(user.clone) == 400
    assert len(the_lake(user)) == 400

    user.run("make", "clean")
    assert_nothing_left()
