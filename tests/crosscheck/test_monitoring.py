"""The monitoring form's files, checked statically (Grafana cannot run here), and the job's metrics
and dead-letter settings against the files that repeat them."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import generate_latest

from tests.stackfiles import MONITORING, MONITORING_FILE, ROOT, interpolate
from tickets_job.deadletter import MAX_RECORD_BYTES, RETENTION_MS
from tickets_job.metrics import JobMetrics
from tickets_job.settings import Settings
from tickets_job.sink import BatchVerdicts, reason_kind

GRAFANA = ROOT / "monitoring" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "client-tickets.json").read_text())
DATASOURCES = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
PROVIDERS = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
PROMETHEUS = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())


def mounts(service: str) -> dict[str, str]:
    """container path -> host path of a service's bind mounts."""
    pairs = (volume.split(":")[:2] for volume in MONITORING_FILE["services"][service]["volumes"])
    return {inside: outside for outside, inside in pairs}


def test_grafana_provisions_the_prometheus_the_dashboard_names():
    (source,) = DATASOURCES["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "prometheus" in MONITORING["services"]
    panels = DASHBOARD["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels) == 7
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"]
        assert all(target["datasource"]["uid"] == source["uid"] for target in panel["targets"])


def test_grafana_finds_the_dashboard_where_the_compose_file_mounts_it():
    (provider,) = PROVIDERS["providers"]
    inside = mounts("grafana")
    assert inside[provider["options"]["path"]] == "./monitoring/grafana/dashboards"
    assert inside["/etc/grafana/provisioning"] == "./monitoring/grafana/provisioning"
    home = MONITORING_FILE["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/client-tickets.json"
    assert mounts("prometheus")["/etc/prometheus/prometheus.yml"] == "./monitoring/prometheus.yml"


def test_the_dashboard_asks_only_for_metrics_that_exist():
    """Each metric name of a query is the job's own, Spark's streaming query's, or `up`."""
    metrics = JobMetrics()
    own = {sample.name for family in metrics.registry.collect() for sample in family.samples}
    own |= {family.name + suffix for family in metrics.registry.collect() for suffix in ("", "_total")}
    spark = re.compile(r"metrics_client_tickets_driver_spark_streaming_client_tickets_\w+_Value")
    asked = set()
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            # without label matchers, ranges and grouping labels, what is left are names
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\bby\s*\([^)]*\)", " ", target["expr"])
            asked |= set(re.findall(r"[a-zA-Z_][\w]*", expr)) - {"sum", "rate", "up"}
    assert {
        "tickets_counted",
        "tickets_quarantined_total",
        "tickets_offsets_behind",
        "tickets_state_bytes",
    } <= asked
    assert [name for name in asked if name not in own and not spark.fullmatch(name)] == []


def test_prometheus_scrapes_the_job_on_its_metrics_port_and_spark_on_its_ui_port():
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in PROMETHEUS["scrape_configs"]}
    port = Settings().metrics_port
    assert targets["tickets-job"] == [f"spark:{port}"]
    assert targets["spark"] == [f"spark:{Settings().ui_port}"]
    environment = MONITORING["services"]["spark"]["environment"]
    assert str(environment["METRICS_PORT"]) == str(port) and environment["METRICS_BIND"] == "0.0.0.0"


def test_every_published_port_of_the_monitoring_form_is_on_localhost_and_each_image_pinned():
    for name, service in MONITORING_FILE["services"].items():
        assert all(port.startswith("127.0.0.1:") for port in service["ports"]), name
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", interpolate(service["image"])), name
    assert all(port.startswith("127.0.0.1:") for port in MONITORING["services"]["spark"]["ports"])


def test_the_dead_letter_topic_is_made_as_the_job_expects_it():
    """Named <topic>.dlq, compacted and deleted by age (RETENTION_MS), taking records of
    MAX_RECORD_BYTES, in both places it is made."""
    assert Settings.from_env({"KAFKA_TOPIC": "abc"}).dlq_topic == "abc.dlq"
    kafka_sh = (ROOT / "local" / "kafka" / "kafka.sh").read_text()
    create_topic = (ROOT / "redpanda" / "create-topic.sh").read_text()
    assert 'create_topic "$1.dlq" --config cleanup.policy=compact,delete' in kafka_sh
    assert "dlq=${DLQ_TOPIC:-$topic.dlq}" in create_topic and "cleanup.policy=compact,delete" in create_topic
    for script in (kafka_sh, create_topic):
        assert f"max.message.bytes={MAX_RECORD_BYTES}" in script
        assert f"retention.ms={RETENTION_MS}" in script


def test_dead_letter_settings_turn_off_with_a_false_word():
    settings = Settings.from_env({"DLQ_TOPIC": "off", "KAFKA_GROUP_ID": "no", "METRICS_PORT": "off"})
    assert (settings.dlq_topic, settings.group_id, settings.metrics_port) == (None, None, None)
    settings = Settings.from_env({"DLQ_TOPIC": "", "KAFKA_GROUP_ID": "", "METRICS_PORT": ""})
    assert (settings.dlq_topic, settings.group_id, settings.metrics_port) == (
        "client_tickets.dlq",
        "client-tickets-spark",
        9180,
    )


def test_the_metrics_of_a_batch():
    metrics = JobMetrics()
    verdicts = BatchVerdicts(3, 2, 10, counts={"BILLING": 6, "GENERAL": 4}, reasons={"unknown type": 2})
    metrics.observe(4, 7, verdicts, 2, {("t", 0): 5, ("t", 1): 0}, 1500)
    text = generate_latest(metrics.registry).decode()
    for line in (
        'tickets_counted{type="BILLING"} 6.0',
        "tickets_read_total 7.0",
        "tickets_duplicates_total 2.0",
        'tickets_quarantined_total{reason="unknown type"} 2.0',
        'tickets_offsets_behind{partition="0",topic="t"} 5.0',
        "tickets_last_batch_id 4.0",
        "tickets_last_batch_duration_seconds 1.5",
    ):
        assert line in text.splitlines(), line
    assert reason_kind("unknown type 'A\nB'") == "unknown type"


def test_the_docs_name_the_pinned_monitoring_images():
    """docs/MONITORING.md and tests/compose/README.md quote the compose file's pins."""
    docs = (ROOT / "docs" / "MONITORING.md").read_text() + (
        ROOT / "tests" / "compose" / "README.md"
    ).read_text()
    for service in ("prometheus", "grafana"):
        assert f"`{interpolate(MONITORING_FILE['services'][service]['image'])}`" in docs, service


def test_grafanas_admin_password_is_a_random_secret_that_make_up_monitoring_makes():
    grafana = MONITORING_FILE["services"]["grafana"]
    assert not any("PASSWORD" in key and not key.endswith("__FILE") for key in grafana["environment"])
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert grafana["secrets"] == ["grafana_admin_password"]
    made = MONITORING_FILE["secrets"]["grafana_admin_password"]["file"].removeprefix("./")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^up-monitoring: {re.escape(made)} ", makefile, re.M)
    assert "secrets/%_password:" in makefile and "/dev/urandom" in makefile
