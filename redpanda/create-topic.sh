#!/bin/sh
# One-shot topic creation for the compose stack: creates $KAFKA_TOPIC with $TOPIC_PARTITIONS
# partitions and $TOPIC_REPLICAS replicas (3 in docker-compose.cluster.yml) unless it exists, and
# the job's dead-letter topic ($DLQ_TOPIC, default $KAFKA_TOPIC.dlq; off = none), compacted: Redpanda
# keeps the newest record of each key, one per rejected message, for 7 days. `docker compose up` can run any
# number of times. rpk finds the broker through RPK_BROKERS.
set -eu
topic=${KAFKA_TOPIC:-client_tickets}
dlq=${DLQ_TOPIC:-$topic.dlq}
partitions=${TOPIC_PARTITIONS:-3}
replicas=${TOPIC_REPLICAS:-1}

create() {  # create TOPIC [rpk topic create flags...]
  if rpk topic describe "$1" >/dev/null 2>&1; then
    echo "topic $1 already exists"
  else
    rpk topic create "$@" --partitions "$partitions" --replicas "$replicas"
  fi
}

create "$topic"
case $dlq in
  off | false | no | 0) echo "no dead-letter topic (DLQ_TOPIC=$dlq)" ;;
  # Up to 2 MiB a record: a value cut to 1,000,000 bytes and a key to 64 KiB, plus the headers;
  # each record kept 7 days.
  *) create "$dlq" -c cleanup.policy=compact,delete -c retention.ms=604800000 -c max.message.bytes=2097152 ;;
esac
rpk topic describe "$topic" --print-partitions
