#!/bin/bash
# `redpanda start [flags]` as the stack passes it, run by Apache Kafka in KRaft mode:
# --kafka-addr and --advertise-kafka-addr (name://host:port,...) become Kafka's listeners and
# advertised listeners. A node without --seeds founds the cluster, as in Redpanda: it is Kafka's
# one controller, listening on its --rpc-addr port. A node with --seeds=host:port (the founder's
# --advertise-rpc-addr) joins it as a broker. Node ids come from the advertised RPC host, the
# cluster id from the founder's address, so every node agrees without talking first. The other
# flags (mode, smp, memory, log level) have no Kafka meaning.
# Security, as the secured stack sets it up in Redpanda's own terms:
#   --set redpanda.kafka_api_tls=[{"name":..., "enabled":true, "cert_file":..., "key_file":...,
#       "truststore_file":..., "require_client_auth":false}, ...]   (JSON) -> TLS on those listeners
#   /etc/redpanda/.bootstrap.yaml with enable_sasl: true -> SASL/SCRAM on every Kafka listener, ACLs
#       enforced (StandardAuthorizer), superusers: [name, ...] -> Kafka's super.users
#   RP_BOOTSTRAP_USER=name:password[:SCRAM-SHA-256|SCRAM-SHA-512] -> that SCRAM user, created when
#       the storage is formatted (first start, the storage tool reading it from a Java argument
#       file, not its command line); the node also talks to itself as that user.
#   With SASL, the controller listener takes TLS with the node's own certificate only (the first TLS
#   listener's), whose name is the super user the nodes act as: nobody else may change ACLs,
#   users or topics there.
# Anything else is run as a command, as the real entry point does.
set -euo pipefail
if [ "${1:-}" != redpanda ]; then
  exec "$@"
fi

listeners='' advertised='' rpc='' seeds='' kafka_api_tls='[]' previous=''
for flag in "$@"; do
  [ "$previous" = --set ] && flag="--set=$flag"
  case $flag in
    --kafka-addr=*) listeners=${flag#*=} ;;
    --advertise-kafka-addr=*) advertised=${flag#*=} ;;
    --advertise-rpc-addr=*) rpc=${flag#*=} ;;
    --seeds=*) seeds=${flag#*=} ;;
    --set=redpanda.kafka_api_tls=*) kafka_api_tls=${flag#--set=redpanda.kafka_api_tls=} ;;
    --set=*) echo "stand-in: ignoring --set ${flag#--set=} (no Kafka meaning here)" >&2 ;;
  esac
  previous=$flag
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

bootstrap=/etc/redpanda/.bootstrap.yaml
cluster_property() {  # the value of a "name: value" or "name: [a, b]" line, "" without the file
  if [ -f "$bootstrap" ]; then sed -nE "s/^$1:[[:space:]]*\[?([^]#]*)\]?.*$/\1/p" "$bootstrap" | tr -d ' '; fi
}
sasl=$(cluster_property enable_sasl)
security=/tmp/security.properties
: >"$security"
tls_names=$(jq -r '.[] | select(.enabled) | .name | ascii_upcase' <<<"$kafka_api_tls")
jq -r '.[] | select(.enabled) | [.name, .cert_file, .key_file, .truststore_file // "", .require_client_auth // false] | @tsv' \
  <<<"$kafka_api_tls" | while IFS=$'\t' read -r name cert key truststore client_auth; do
  cat "$key" "$cert" >"/tmp/$name.keystore.pem"
  {
    echo "listener.name.$name.ssl.keystore.type=PEM"
    echo "listener.name.$name.ssl.keystore.location=/tmp/$name.keystore.pem"
    [ -n "$truststore" ] && echo "listener.name.$name.ssl.truststore.type=PEM"
    [ -n "$truststore" ] && echo "listener.name.$name.ssl.truststore.location=$truststore"
    echo "listener.name.$name.ssl.client.auth=$([ "$client_auth" = true ] && echo required || echo none)"
  } >>"$security"
done
protocol() {  # the Kafka security protocol of listener $1
  local tls=PLAINTEXT
  grep -qx "$1" <<<"$tls_names" && tls=SSL
  if [ "$sasl" = true ]; then echo "SASL_$tls"; else echo "$tls"; fi
}
scram=''
if [ "$sasl" = true ]; then
  [ -n "${RP_BOOTSTRAP_USER:-}" ] || { echo "stand-in: enable_sasl needs RP_BOOTSTRAP_USER" >&2; exit 64; }
  IFS=: read -r user password mechanism <<<"$RP_BOOTSTRAP_USER"
  mechanism=${mechanism:-SCRAM-SHA-256}
  scram="$mechanism=[name=$user,password=$password]"
  jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$user\" password=\"$password\";"
  {
    echo "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512"
    echo "sasl.mechanism.inter.broker.protocol=$mechanism"
    for name in $names; do
      for each in scram-sha-256 scram-sha-512; do
        echo "listener.name.${name,,}.$each.sasl.jaas.config=$jaas"
      done
    done
    echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    echo "allow.everyone.if.no.acl.found=false"
    # The nodes, on the controller listener, by their certificate's name.
    node_keystore=$(ls /tmp/*.keystore.pem | head -n 1)
    echo "listener.name.controller.ssl.keystore.type=PEM"
    echo "listener.name.controller.ssl.keystore.location=$node_keystore"
    echo "listener.name.controller.ssl.truststore.type=PEM"
    echo "listener.name.controller.ssl.truststore.location=$(jq -r '[.[] | select(.enabled)][0].truststore_file' <<<"$kafka_api_tls")"
    echo "listener.name.controller.ssl.client.auth=required"
    node=$(openssl x509 -in "$node_keystore" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
    echo "super.users=$(printf 'User:%s;' $(cluster_property superusers | tr ',' ' ') | sed 's/;$//');User:$node"
  } >>"$security"
fi
controller_protocol=$([ "$sasl" = true ] && echo SSL || echo PLAINTEXT)
protocols=$(for name in $names; do printf '%s:%s,' "$name" "$(protocol "$name")"; done)CONTROLLER:$controller_protocol
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
advertised.listeners=$advertised${controller_listener:+,CONTROLLER://$rpc}
listener.security.protocol.map=$protocols
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
cat "$security" >>"$config"
chmod 600 "$config"

java_cp=(java -cp '/opt/kafka/lib/*' -Dlog4j2.configurationFile=/opt/kafka/log4j2.yaml)
if [ ! -f "$data/meta.properties" ]; then
  arguments=/tmp/format.args  # a Java argument file: the password is not in `ps`
  (umask 077 && printf '%s\n' kafka.tools.StorageTool format --ignore-formatted --config "$config" \
    --cluster-id "$cluster_id" >"$arguments")
  if [ -n "$scram" ]; then
    scram=${scram//\\/\\\\}
    printf -- '--add-scram\n"%s"\n' "${scram//\"/\\\"}" >>"$arguments"
  fi
  "${java_cp[@]}" -Xmx256m "@$arguments" >/dev/null
  rm -f "$arguments"
fi
echo "stand-in: Apache Kafka node $(cat /tmp/node.id) ($roles) on $listeners (advertised $advertised; ${protocols//,/, })" >&2
exec "${java_cp[@]}" -Xms512m -Xmx512m -XX:+UseG1GC kafka.Kafka "$config"
