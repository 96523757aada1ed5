"""Configuration of both programs: defaults, validation, and the pinned versions agreeing."""

import re
from pathlib import Path

import pyspark
import pytest

from tickets_job.connector import KAFKA_CONNECTOR
from tickets_job.session import driver_address
from tickets_job.settings import JVM_MEMORY, SPARK_INTERVAL
from tickets_job.settings import Settings as JobSettings
from tickets_kafka.settings import ConfigError
from tickets_local.process import ROOT
from tickets_producer.settings import Settings as ProducerSettings


def test_producer_defaults():
    settings = ProducerSettings.from_env({})
    assert settings == ProducerSettings()
    assert (settings.bootstrap_servers, settings.topic, settings.ticket_count) == (
        "localhost:9092",
        "client_tickets",
        200,
    )


def test_producer_reads_its_variables():
    settings = ProducerSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "redpanda:9092",
            "KAFKA_TOPIC": "t",
            "TICKET_COUNT": "1000",
            "TICKET_SEED": "7",
            "TICKETS_PER_SECOND": "12.5",
            "PRODUCER_LEDGER": "ledger.jsonl",
            "PRODUCER_DELIVERY_TIMEOUT_MS": "45000",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings == ProducerSettings(
        bootstrap_servers="redpanda:9092",
        topic="t",
        ticket_count=1000,
        ticket_seed=7,
        tickets_per_second=12.5,
        ledger_path=Path("ledger.jsonl"),
        delivery_timeout_ms=45_000,
        log_level="DEBUG",
    )


def test_producer_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as error:
        ProducerSettings.from_env(
            {
                "TICKET_COUNT": "many",
                "TICKETS_PER_SECOND": "-1",
                "PRODUCER_DELIVERY_TIMEOUT_MS": "1000",  # less than the client's request time-out
                "LOG_LEVEL": "LOUD",
            }
        )
    message = str(error.value)
    assert "TICKET_COUNT='many' is not a whole number" in message
    assert "TICKETS_PER_SECOND='-1' must be >= 0" in message
    assert "PRODUCER_DELIVERY_TIMEOUT_MS='1000' must be >= 30020" in message
    assert "LOG_LEVEL='LOUD'" in message


def test_job_defaults():
    settings = JobSettings.from_env({})
    assert settings == JobSettings()
    assert settings.output_dir == Path("data/output/client_tickets")
    assert settings.checkpoint_dir == "data/checkpoints/client_tickets"
    assert settings.lake_uri == "data/lake"
    assert settings.max_offsets_per_trigger == 200_000
    assert not settings.bounded


def test_job_reads_its_variables():
    settings = JobSettings.from_env(
        {
            "OUTPUT_DIR": "/out",
            "CHECKPOINT_DIR": "/cp",
            "IVY_DIR": "/ivy",
            "MAX_OFFSETS_PER_TRIGGER": "10000",
            "TRIGGER_INTERVAL": "500 milliseconds",
            "EXPECTED_TICKETS": "200",
            "BOUNDED": "yes",
        }
    )
    assert (settings.output_dir, settings.checkpoint_dir, settings.ivy_dir) == (
        Path("/out"),
        "/cp",
        Path("/ivy"),
    )
    assert (settings.max_offsets_per_trigger, settings.trigger_interval) == (10000, "500 milliseconds")
    assert settings.expected_tickets == 200
    assert settings.bounded


def test_a_driver_for_executors_elsewhere_gets_its_address_and_ports():
    settings = JobSettings.from_env(
        {"SPARK_DRIVER_HOST": "spark", "SPARK_DRIVER_PORT": "7078", "SPARK_BLOCK_MANAGER_PORT": "7079"}
    )
    assert driver_address(settings) == {
        "spark.driver.host": "spark",
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.driver.port": "7078",
        "spark.blockManager.port": "7079",
    }
    # By default the driver listens on loopback only; 0.0.0.0 (a container) leaves its name to Spark.
    assert driver_address(JobSettings()) == {
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
    }
    assert driver_address(JobSettings.from_env({"SPARK_BIND_ADDRESS": "0.0.0.0"})) == {
        "spark.driver.bindAddress": "0.0.0.0"
    }
    with pytest.raises(ConfigError, match=r"SPARK_DRIVER_PORT=70780 is not a port"):
        JobSettings.from_env({"SPARK_DRIVER_PORT": "70780"})


def test_a_dead_letter_topic_that_is_the_topic_itself_is_refused():
    with pytest.raises(ConfigError, match=r"DLQ_TOPIC='abc' is KAFKA_TOPIC itself"):
        JobSettings.from_env({"KAFKA_TOPIC": "abc", "DLQ_TOPIC": "abc"})
    with pytest.raises(ConfigError, match=r"DLQ_TOPIC='abc' is KAFKA_TOPIC itself"):
        JobSettings.from_env({"KAFKA_TOPIC": "abc", "DLQ_TOPIC": "{topic}"})
    assert JobSettings.from_env({"KAFKA_TOPIC": "abc", "DLQ_TOPIC": "abc.bad"}).dlq_topic == "abc.bad"


def test_job_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as error:
        JobSettings.from_env({"MAX_OFFSETS_PER_TRIGGER": "0", "BOUNDED": "maybe"})
    assert "MAX_OFFSETS_PER_TRIGGER='0' must be >= 1" in str(error.value)
    assert "BOUNDED='maybe' must be true or false" in str(error.value)


def test_connector_pyspark_and_pin_agree():
    pinned = re.search(r"^pyspark==(\S+)$", (ROOT / "spark/requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert pyspark.__version__ == pinned.group(1)
    assert (f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pinned.group(1)}") == KAFKA_CONNECTOR


INTERVALS = [
    "200 milliseconds",
    "1 second",
    "0 seconds",
    "1.5 seconds",
    "1 minute 30 seconds",
    "interval 1 second",
]
INTERVALS += [
    "2 HOURS",
    "1 week",
    "1  second",
    "banana",
    "1.5 hours",
    "10seconds",
    "1 month",
    "500 ms",
    "1s",
    "100",
]
MEMORY_SIZES = ["1g", "512m", "1024", "1gb", "2T", "100k", "lots", "1.5g", "1 g", "-1g", "²g"]


def test_the_jobs_grammars_take_only_what_sparks_own_parsers_take(spark):
    """TRIGGER_INTERVAL and SPARK_DRIVER_MEMORY are checked before Spark starts: each value the
    job takes, Spark takes too (Trigger.ProcessingTime, JavaUtils.byteStringAsMb), and the forms
    the docs give are taken."""
    jvm = spark.sparkContext._jvm

    def spark_takes(parse, text: str) -> bool:
        try:
            parse(text)
        except Exception:  # Py4JJavaError: Spark's IllegalArgumentException or NumberFormatException
            return False
        return True

    for text in INTERVALS:
        ours = SPARK_INTERVAL.fullmatch(text) is not None
        assert ours == spark_takes(jvm.org.apache.spark.sql.streaming.Trigger.ProcessingTime, text), text
    for text in MEMORY_SIZES:
        ours = JVM_MEMORY.fullmatch(text) is not None
        assert ours == spark_takes(jvm.org.apache.spark.network.util.JavaUtils.byteStringAsMb, text), text
    assert (
        JobSettings.from_env({"TRIGGER_INTERVAL": "1 second", "SPARK_DRIVER_MEMORY": "2g"}).driver_memory
        == "2g"
    )


def test_the_kafka_source_decompresses_max_poll_records_at_a_time():
    """100 by default (Kafka's 500 let a batch of 1 MB messages exhaust the driver), a setting."""
    assert JobSettings().max_poll_records == 100
    assert JobSettings.from_env({"MAX_POLL_RECORDS": "500"}).max_poll_records == 500
    with pytest.raises(ConfigError, match=r"MAX_POLL_RECORDS='0' must be >= 1"):
        JobSettings.from_env({"MAX_POLL_RECORDS": "0"})


@pytest.mark.parametrize(
    ("variables", "checkpoint", "lake"),
    [
        (
            {"CHECKPOINT_DIR": "s3a://tickets-lake/checkpoints/x", "LAKE_URI": "s3a://tickets-lake"},
            "s3a://tickets-lake/checkpoints/x",
            "s3a://tickets-lake",
        ),
        ({"LAKE_URI": "off"}, "data/checkpoints/client_tickets", None),
        ({"LAKE_URI": "/srv/lake/"}, "data/checkpoints/client_tickets", "/srv/lake/"),
    ],
)
def test_locations_are_local_paths_or_s3a_uris(variables, checkpoint, lake):
    settings = JobSettings.from_env(variables)
    assert (settings.checkpoint_dir, settings.lake_uri) == (checkpoint, lake)
    assert settings.uses_s3() == ("s3a://" in checkpoint + (lake or ""))


@pytest.mark.parametrize(
    "uri", ["s3a://Tickets/x", "s3a://ab/x", "s3://tickets/x", "s3a://tickets//x", "s3a://", "gs://b/x"]
)
def test_a_malformed_location_is_refused_naming_the_setting(uri):
    with pytest.raises(ConfigError, match=rf"LAKE_URI='{re.escape(uri)}' is not a local path or s3a://"):
        JobSettings.from_env({"LAKE_URI": uri})
