"""The pipeline on this machine without Docker, its processes started and stopped in one way.

`make run` / `make cluster-run` (tickets_local.run), `make cluster-up` / `cluster-down`
(tickets_local.cluster), the benchmarks (tickets_bench) and the tests (tests/harness.py) all use,
each from its own module:

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
