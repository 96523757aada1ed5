"""The pipeline's processes on this machine, started and stopped in one way for every caller.

`make run` / `make cluster-run` (tickets_local.run), `make cluster-up` / `cluster-down`
(tickets_local.cluster), the benchmarks (tickets_bench) and the tests (tests/harness.py) all use:

  Broker        local Apache Kafka through local/kafka/kafka.sh: one node, or a KRaft cluster
                (tickets_local.brokers)
  SparkCluster  a Spark standalone master and workers through local/spark/spark.sh
                (tickets_local.spark_cluster)
  Job           the Spark job (python -m tickets_job) as a process of its own, with its events
                (tickets_local.jobs)
  run_producer  the producer (python -m tickets_producer) as a process, as `make produce` runs it
  wait_until    a condition polled until a deadline, never a fixed sleep (tickets_local.process)

A step that cannot be done raises StepError with the reason (the scripts print theirs on
stderr); the commands report it in one line and exit 1, without a traceback.
"""

from tickets_local.brokers import Broker, cluster_broker
from tickets_local.jobs import Job, job_env, kill_jobs_left_running, read_part_counts, run_producer
from tickets_local.process import ROOT, StepError, wait_until
from tickets_local.spark_cluster import SparkCluster, cluster_env, spark_cluster

__all__ = [
    "ROOT",
    "Broker",
    "Job",
    "SparkCluster",
    "StepError",
    "cluster_broker",
    "cluster_env",
    "job_env",
    "kill_jobs_left_running",
    "read_part_counts",
    "run_producer",
    "spark_cluster",
    "wait_until",
]
