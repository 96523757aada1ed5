#!/bin/sh
# One-shot topic creation for the compose stack: creates $KAFKA_TOPIC with $TOPIC_PARTITIONS
# partitions and $TOPIC_REPLICAS replicas (3 in docker-compose.cluster.yml) unless it exists, so
# `docker compose up` can run any number of times.
# rpk finds the broker through RPK_BROKERS.
set -eu
topic=${KAFKA_TOPIC:-client_tickets}
partitions=${TOPIC_PARTITIONS:-3}
replicas=${TOPIC_REPLICAS:-1}

if rpk topic describe "$topic" >/dev/null 2>&1; then
  echo "topic $topic already exists"
else
  rpk topic create "$topic" --partitions "$partitions" --replicas "$replicas"
fi
rpk topic describe "$topic" --print-partitions
