#!/bin/bash
# `redpanda start [flags]` as the stack passes it, run by Apache Kafka in KRaft mode:
# --kafka-addr and --advertise-kafka-addr (name://host:port,...) become Kafka's listeners and
# advertised listeners. A node without --seeds founds the cluster, as in Redpanda: it is Kafka's
# one controller, listening on its --rpc-addr port. A node with --seeds=host:port (the founder's
# --advertise-rpc-addr) joins it as a broker. Node ids come from the advertised RPC host, the
# cluster id from the founder's address, so every node agrees without talking first. The other
# flags (mode, smp, memory, log level) have no Kafka meaning.
# Anything else is run as a command, as the real entry point does.
set -euo pipefail
if [ "${1:-}" != redpanda ]; then
  exec "$@"
fi

listeners='' advertised='' rpc='' seeds=''
for flag in "$@"; do
  case $flag in
    --kafka-addr=*) listeners=${flag#*=} ;;
    --advertise-kafka-addr=*) advertised=${flag#*=} ;;
    --advertise-rpc-addr=*) rpc=${flag#*=} ;;
    --seeds=*) seeds=${flag#*=} ;;
  esac
done
[ -n "$listeners" ] && [ -n "$advertised" ] && [ -n "$rpc" ] || {
  echo "stand-in: needs --kafka-addr, --advertise-kafka-addr and --advertise-rpc-addr" >&2
  exit 64
}
[[ $seeds != *,* ]] || { echo "stand-in: one seed only (the founding node), got $seeds" >&2; exit 64; }
node_id() { echo $(($(cksum <<<"${1%:*}" | cut -d' ' -f1) % 1000000 + 1)); }
founder=${seeds:-$rpc}
controller="$(node_id "$founder")@$founder"
# A Kafka cluster id: 16 bytes (the MD5 of the founder's address) in URL-safe base64.
cluster_id=$(printf "$(md5sum <<<"$founder" | cut -c1-32 | sed 's/../\\x&/g')" | base64 | tr '+/' '-_' | tr -d '=')
if [ -z "$seeds" ]; then
  roles=broker,controller controller_listener=",CONTROLLER://0.0.0.0:${rpc##*:}"
else
  roles=broker controller_listener=''
fi
node_id "$rpc" >/tmp/node.id  # for rpk cluster health
upper_names() { sed -E 's/(^|,)([a-z_]+):\/\//\1\U\2:\/\//g' <<<"$1"; }
listeners=$(upper_names "$listeners")
advertised=$(upper_names "$advertised")
names=$(grep -oE '(^|,)[A-Z_]+:' <<<"$listeners" | tr -d ',:' | sort -u)
protocols=$(printf '%s:PLAINTEXT,' $names CONTROLLER)
# Nodes replicate over the listener other containers reach ("internal"), not the host's one.
inter_broker=$(grep -x INTERNAL <<<"$names" || head -n 1 <<<"$names")

data=/var/lib/redpanda/data
config=/tmp/server.properties
cat >"$config" <<PROPERTIES
process.roles=$roles
node.id=$(cat /tmp/node.id)
controller.quorum.voters=$controller
controller.listener.names=CONTROLLER
listeners=$listeners$controller_listener
advertised.listeners=$advertised
listener.security.protocol.map=${protocols%,}
inter.broker.listener.name=$inter_broker
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
    --cluster-id "$cluster_id" >/dev/null
fi
echo "stand-in: Apache Kafka node $(cat /tmp/node.id) ($roles) on $listeners (advertised $advertised)" >&2
exec "${java_cp[@]}" -Xms512m -Xmx512m -XX:+UseG1GC kafka.Kafka "$config"
