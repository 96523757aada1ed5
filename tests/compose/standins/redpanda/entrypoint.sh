#!/bin/bash
# `redpanda start [flags]` as the stack passes it, run by Apache Kafka in KRaft mode:
# --kafka-addr and --advertise-kafka-addr (name://host:port,...) become Kafka's listeners and
# advertised listeners; the other flags (mode, smp, memory, rpc, log level) have no Kafka meaning.
# Anything else is run as a command, as the real entry point does.
set -euo pipefail
if [ "${1:-}" != redpanda ]; then
  exec "$@"
fi

listeners='' advertised=''
for flag in "$@"; do
  case $flag in
    --kafka-addr=*) listeners=${flag#*=} ;;
    --advertise-kafka-addr=*) advertised=${flag#*=} ;;
  esac
done
[ -n "$listeners" ] && [ -n "$advertised" ] || { echo "stand-in: needs --kafka-addr and --advertise-kafka-addr" >&2; exit 64; }
upper_names() { sed -E 's/(^|,)([a-z_]+):\/\//\1\U\2:\/\//g' <<<"$1"; }
listeners=$(upper_names "$listeners")
advertised=$(upper_names "$advertised")
names=$(grep -oE '(^|,)[A-Z_]+:' <<<"$listeners" | tr -d ',:' | sort -u)
protocols=$(printf '%s:PLAINTEXT,' $names CONTROLLER)

data=/var/lib/redpanda/data
config=/tmp/server.properties
cat >"$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
controller.listener.names=CONTROLLER
listeners=$listeners,CONTROLLER://127.0.0.1:9093
advertised.listeners=$advertised
listener.security.protocol.map=${protocols%,}
inter.broker.listener.name=$(head -n 1 <<<"$names")
log.dirs=$data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
PROPERTIES

java_cp=(java -cp '/opt/kafka/lib/*' -Dlog4j2.configurationFile=/opt/kafka/log4j2.yaml)
if [ ! -f "$data/meta.properties" ]; then
  "${java_cp[@]}" -Xmx256m kafka.tools.StorageTool format --ignore-formatted --config "$config" \
    --cluster-id "$("${java_cp[@]}" -Xmx256m kafka.tools.StorageTool random-uuid)" >/dev/null
fi
echo "stand-in: Apache Kafka on $listeners (advertised $advertised)" >&2
exec "${java_cp[@]}" -Xms512m -Xmx512m -XX:+UseG1GC kafka.Kafka "$config"
