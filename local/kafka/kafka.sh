#!/usr/bin/env bash
# Local Apache Kafka (KRaft) from its Maven Central artifacts: one node, or a cluster of KAFKA_NODES.
#
#   kafka.sh install        fetch Kafka with mvn into the cache (once; idempotent)
#   kafka.sh up             format storage if new, start every node not running, wait, create the topics
#   kafka.sh down           stop every node (SIGTERM, then SIGKILL after 30 s); no-op when none runs
#   kafka.sh reset          down, then delete the data: the next `up` starts from an empty topic
#   kafka.sh status         exit 0 when every node runs
#   kafka.sh topic [NAME]   create NAME (default $KAFKA_TOPIC) with $KAFKA_PARTITIONS partitions, and its
#                           dead-letter topic NAME.dlq (the job's DLQ_TOPIC; compacted, 7 days), if missing
#   kafka.sh bootstrap      print the nodes' addresses (KAFKA_BOOTSTRAP_SERVERS for the clients)
#   kafka.sh tool CLASS ARGS...  run a Kafka command-line tool, e.g. org.apache.kafka.tools.TopicCommand
#                                (secured: as the super user, through --command-config)
#   kafka.sh classpath      print the classpath of Kafka's jars (for a tool run as someone else)
#
# Node i (1..KAFKA_NODES) listens on KAFKA_PORT + 2(i-1), its controller on KAFKA_CONTROLLER_PORT
# + 2(i-1); its data, kafka.log and kafka.pid are in KAFKA_STATE_DIR/node-i. A cluster keeps three
# replicas of everything with min.insync.replicas=2 (server.properties).
# Environment: KAFKA_NODES (1), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_STATE_DIR
# (data/kafka), KAFKA_TOPIC (client_tickets), KAFKA_PARTITIONS (3), KAFKA_CACHE_DIR (.cache/kafka),
# KAFKA_HEAP (512m a node).
#
# Secured (KAFKA_SECURITY_DIR set, made by certs.sh plus a file `scram-users` of "name password"
# lines, mode 0600, the first being the broker's own super user): clients get one SASL_SSL listener
# (SCRAM-SHA-512 or -256, TLS with the certificate for localhost) and only what ACLs allow them;
# the nodes advertise localhost, and the tools here connect as the super user
# (KAFKA_SECURITY_DIR/admin.properties). The controller listener, which also serves ACL, user and
# topic changes, takes only TLS clients with the nodes' own certificate (broker.pem): there is no
# anonymous super user. Every file holding a password is 0600, and no password is in a process's
# arguments (the storage tool reads its own from a Java argument file).
set -euo pipefail

# Variables from ./.env that the environment does not set already, as the Python programs read it.
if [ -f .env ]; then
  while IFS='=' read -r key value; do
    [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] && [ -z "${!key+x}" ] || continue
    value=${value%\"}
    export "$key=${value#\"}"
  done <.env
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
nodes=${KAFKA_NODES:-1}
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
state_dir=$(mkdir -p "${KAFKA_STATE_DIR:-$root/data/kafka}" && cd "${KAFKA_STATE_DIR:-$root/data/kafka}" && pwd)
topic=${KAFKA_TOPIC:-client_tickets}
partitions=${KAFKA_PARTITIONS:-3}
replicas=$((nodes < 3 ? nodes : 3))
min_isr=$((replicas < 2 ? 1 : 2))
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
lib_dir=${KAFKA_CACHE_DIR:-$root/.cache/kafka}/$version/lib
security_dir=${KAFKA_SECURITY_DIR:+$(cd "$KAFKA_SECURITY_DIR" && pwd)}
host=$([ -n "$security_dir" ] && echo localhost || echo 127.0.0.1)  # a secured node's certificate names localhost

say() { echo "local/kafka: $*" >&2; }

node_port() { echo $((port + 2 * ($1 - 1))); }
node_controller_port() { echo $((controller_port + 2 * ($1 - 1))); }
node_dir() { echo "$state_dir/node-$1"; }
bootstrap() {
  local i list=()
  for ((i = 1; i <= nodes; i++)); do list+=("$host:$(node_port "$i")"); done
  (IFS=,; echo "${list[*]}")
}
voters() {
  local i list=()
  for ((i = 1; i <= nodes; i++)); do list+=("$i@$host:$(node_controller_port "$i")"); done
  (IFS=,; echo "${list[*]}")
}

install() {
  [ -f "$lib_dir/.complete" ] && return 0
  say "fetching Apache Kafka $version with mvn into $lib_dir"
  rm -rf "$lib_dir"
  # --strict-checksums: a jar whose checksum differs from the repository's fails the fetch (Maven's
  # default only warns).
  mvn -q -B --strict-checksums -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib_dir"
  touch "$lib_dir/.complete"
}

java_tool() {  # java_tool CLASS ARGS... : a Kafka class on the cached classpath, logging at WARN
  # A short-lived client: the quick compiler and the serial collector start it sooner.
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$lib_dir/*" \
    -Dlog4j2.configurationFile="$here/log4j2.yaml" -Dkafka.log.level=WARN "$@"
}

client_tool() {  # client_tool CLASS ARGS... : a Kafka client tool, as the super user when secured
  if [ -n "$security_dir" ]; then
    java_tool "$@" --command-config "$security_dir/admin.properties"
  else
    java_tool "$@"
  fi
}

scram_user() { sed -n "${1}p" "$security_dir/scram-users" | cut -d' ' -f"$2"; }  # scram_user LINE FIELD

secured_properties() {  # secured_properties NODE : what a secured node adds to server.properties
  cat <<PROPERTIES

# --- KAFKA_SECURITY_DIR: clients only over SASL_SSL, and only what ACLs allow them ---
listeners=SASL_SSL://127.0.0.1:$(node_port "$1"),CONTROLLER://127.0.0.1:$(node_controller_port "$1")
advertised.listeners=SASL_SSL://localhost:$(node_port "$1"),CONTROLLER://localhost:$(node_controller_port "$1")
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$(jaas "$(scram_user 1 1)" "$(scram_user 1 2)")
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$(jaas "$(scram_user 1 1)" "$(scram_user 1 2)")
ssl.keystore.type=PEM
ssl.keystore.location=$security_dir/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$security_dir/ca.pem
ssl.client.auth=requested
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# The nodes themselves, on the CONTROLLER listener, by their certificate's name.
super.users=User:$(scram_user 1 1);User:$(openssl x509 -in "$security_dir/broker.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
PROPERTIES
}

jaas() { echo "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$1\" password=\"$2\";"; }

write_admin_properties() (
  umask 077
  cat >"$security_dir/admin.properties" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$(jaas "$(scram_user 1 1)" "$(scram_user 1 2)")
ssl.truststore.type=PEM
ssl.truststore.location=$security_dir/ca.pem
PROPERTIES
)

java_argument() {  # java_argument TEXT : TEXT quoted for a Java argument file, on a line of its own
  local text=${1//\\/\\\\}
  printf '"%s"\n' "${text//\"/\\\"}"
}

scram_arguments() {  # every user of scram-users, for StorageTool format, in a Java argument file
  local name password mechanism
  while read -r name password; do
    [ -n "$name" ] || continue
    for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
      echo --add-scram
      java_argument "$mechanism=[name=$name,password=$password]"
    done
  done <"$security_dir/scram-users"
}

check_secret_file() {  # check_secret_file FILE : refuse a file of passwords that others may read
  if [ -n "$(find "$1" -perm /077)" ]; then
    say "$1 holds passwords and others may read it (mode $(stat -c %a "$1")): chmod 600 it"
    exit 1
  fi
}

running_pid() {  # running_pid NODE : prints the node's pid when it is alive
  local pid pid_file
  pid_file=$(node_dir "$1")/kafka.pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# A node this script has just started: alive is enough. Until its process has exec'd java (slow on a
# busy machine) its command line is still this script's, which running_pid would take for another
# program's.
starting() { kill -0 "$(cat "$(node_dir "$1")/kafka.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

configure_node() (  # configure_node NODE CLUSTER_ID : its server.properties; its storage, if new
  umask 077  # server.properties holds the super user's password
  local dir
  dir=$(node_dir "$1")
  sed -e "s|@NODE_ID@|$1|g" -e "s|@VOTERS@|$(voters)|g" -e "s|@PORT@|$(node_port "$1")|g" \
    -e "s|@CONTROLLER_PORT@|$(node_controller_port "$1")|g" -e "s|@LOG_DIR@|$dir/data|g" \
    -e "s|@REPLICAS@|$replicas|g" -e "s|@MIN_ISR@|$min_isr|g" \
    "$here/server.properties" >"$dir/server.properties"
  if [ -n "$security_dir" ]; then
    secured_properties "$1" >>"$dir/server.properties"  # a key given twice: the last one counts
  fi
  if [ ! -f "$dir/data/meta.properties" ]; then
    # The tool's arguments in a Java argument file: the passwords of --add-scram would be in `ps`
    # for every user of the machine to read.
    printf '%s\n' kafka.tools.StorageTool format --ignore-formatted --cluster-id "$2" --config >"$dir/format.args"
    java_argument "$dir/server.properties" >>"$dir/format.args"
    [ -z "$security_dir" ] || scram_arguments >>"$dir/format.args"
    # Removed whatever the tool's outcome: the file holds the passwords.
    java_tool "@$dir/format.args" >/dev/null || { rm -f "$dir/format.args"; exit 1; }
    rm -f "$dir/format.args"
  fi
)

start_node() {  # start_node NODE CLUSTER_ID
  local dir listen_port
  dir=$(node_dir "$1")
  listen_port=$(node_port "$1")
  if port_open "$listen_port"; then
    say "port $listen_port is taken by another process: stop it or set KAFKA_PORT"
    exit 1
  fi
  mkdir -p "$dir"
  configure_node "$1" "$2"
  # setsid: the broker outlives this shell and ignores the terminal's Ctrl-C; `down` stops it.
  setsid java -Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC \
    -cp "$lib_dir/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" \
    kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  say "node $1 starting (pid $!) on 127.0.0.1:$listen_port, log in $dir/kafka.log"
}

up() {
  install
  local i pid cluster_id_file=$state_dir/cluster-id
  [ -f "$cluster_id_file" ] || java_tool kafka.tools.StorageTool random-uuid >"$cluster_id_file"
  if [ -n "$security_dir" ]; then
    check_secret_file "$security_dir/scram-users"
    write_admin_properties
  fi
  # Every node first, then the waits: a node of a cluster serves only once a quorum of them runs.
  for ((i = 1; i <= nodes; i++)); do
    if pid=$(running_pid "$i"); then
      say "node $i already running (pid $pid) on 127.0.0.1:$(node_port "$i")"
    else
      start_node "$i" "$(cat "$cluster_id_file")"
    fi
  done
  local deadline=$((SECONDS + 90))
  for ((i = 1; i <= nodes; i++)); do
    until port_open "$(node_port "$i")"; do
      if ! starting "$i"; then
        say "node $i exited during start-up; last lines of $(node_dir "$i")/kafka.log:"
        tail -n 20 "$(node_dir "$i")/kafka.log" >&2
        exit 1
      fi
      [ $SECONDS -lt $deadline ] || { say "node $i: no answer on port $(node_port "$i") after 90 s"; exit 1; }
      sleep 0.2
    done
  done
  create_topics "$topic"
  say "ready on $(bootstrap)"
}

create_topic() {  # create_topic NAME [TopicCommand options...]
  local name=$1; shift
  client_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor "$replicas" \
    "$@" 2>&1 | grep -v -e 'collide' -e '^Created topic' >&2 || true
}

create_topics() {  # the topic and its dead-letter topic, which keeps the newest record of each key
  # Up to 2 MiB a record: a value cut to 1,000,000 bytes and a key to 64 KiB, plus the headers;
  # each record kept 7 days (tickets_job.deadletter).
  create_topic "$1.dlq" --config cleanup.policy=compact,delete --config retention.ms=604800000 \
    --config max.message.bytes=2097152 &
  local dlq=$!
  create_topic "$1"
  wait "$dlq"  # that one only: `up` has started the nodes in the background too
  client_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" \
    --describe --topic "$1" >/dev/null
}

down() {  # every node that has a folder, whatever KAFKA_NODES says now
  local dir i pid total=0 nodes_up=() lost_quorum_at=''
  for dir in "$state_dir"/node-*; do
    [ -d "$dir" ] || continue
    total=$((total + 1))
    i=${dir##*/node-}
    if pid=$(running_pid "$i"); then
      kill -TERM "$pid"
      nodes_up+=("$i:$pid")
    fi
    rm -f "$dir/kafka.pid"
  done
  # All at once. A node hands its partitions over through the controller quorum before it exits;
  # once most nodes are gone there is no quorum left, and the rest would wait for one for ever.
  local deadline=$((SECONDS + 30)) still_up node
  while ((${#nodes_up[@]})); do
    still_up=()
    for node in "${nodes_up[@]}"; do
      if kill -0 "${node#*:}" 2>/dev/null; then still_up+=("$node"); else say "node ${node%%:*} stopped"; fi
    done
    nodes_up=("${still_up[@]}")
    ((${#nodes_up[@]})) || break
    if ((total > 1 && ${#nodes_up[@]} < total / 2 + 1)) && [ -z "$lost_quorum_at" ]; then
      lost_quorum_at=$SECONDS
    fi
    if ((SECONDS >= deadline)) || { [ -n "$lost_quorum_at" ] && ((SECONDS >= lost_quorum_at + 5)); }; then
      for node in "${nodes_up[@]}"; do
        say "node ${node%%:*}: no controller quorum left to shut down through; stopping it with SIGKILL (its data is kept)"
        kill -KILL "${node#*:}" 2>/dev/null || true
      done
      deadline=$((SECONDS + 3600)) lost_quorum_at=''
    fi
    sleep 0.2
  done
}

status() {
  local i pid missing=0
  for ((i = 1; i <= nodes; i++)); do
    if pid=$(running_pid "$i"); then
      say "node $i running (pid $pid) on 127.0.0.1:$(node_port "$i")"
    else
      say "node $i not running"
      missing=1
    fi
  done
  return $missing
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  reset) down; rm -rf "$state_dir"; say "data deleted ($state_dir)" ;;
  status) status ;;
  bootstrap) bootstrap ;;
  topic) create_topics "${2:-$topic}" ;;
  tool) shift; install; client_tool "$@" ;;
  classpath) install; echo "$lib_dir/*" ;;
  *) sed -n '2,30p' "$0" >&2; exit 64 ;;
esac
