#!/usr/bin/env bash
# A local Apache Kafka broker (KRaft, single node) from its Maven Central artifacts.
#
#   kafka.sh install        fetch Kafka with mvn into the cache (once; idempotent)
#   kafka.sh up             format storage if new, start on 127.0.0.1:$KAFKA_PORT, wait, create the topic
#   kafka.sh down           stop it (SIGTERM, then SIGKILL after 30 s); no-op when not running
#   kafka.sh reset          down, then delete its data: the next `up` starts from an empty topic
#   kafka.sh status         exit 0 when running
#   kafka.sh topic [NAME]   create NAME (default $KAFKA_TOPIC) with $KAFKA_PARTITIONS partitions, if missing
#   kafka.sh tool CLASS ARGS...  run a Kafka command-line tool, e.g. org.apache.kafka.tools.consumer.ConsoleConsumer
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_STATE_DIR (data/kafka: log
# segments, kafka.log, kafka.pid), KAFKA_TOPIC (client_tickets), KAFKA_PARTITIONS (3),
# KAFKA_CACHE_DIR (.cache/kafka), KAFKA_HEAP (512m).
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
root=$(dirname "$here")
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
state_dir=$(mkdir -p "${KAFKA_STATE_DIR:-$root/data/kafka}" && cd "${KAFKA_STATE_DIR:-$root/data/kafka}" && pwd)
topic=${KAFKA_TOPIC:-client_tickets}
partitions=${KAFKA_PARTITIONS:-3}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
lib_dir=${KAFKA_CACHE_DIR:-$root/.cache/kafka}/$version/lib
pid_file=$state_dir/kafka.pid
log_file=$state_dir/kafka.log

say() { echo "local-kafka: $*" >&2; }

install() {
  [ -f "$lib_dir/.complete" ] && return 0
  say "fetching Apache Kafka $version with mvn into $lib_dir"
  rm -rf "$lib_dir"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib_dir"
  touch "$lib_dir/.complete"
}

java_tool() {  # java_tool CLASS ARGS... : a Kafka class on the cached classpath, logging at WARN
  java -Xmx256m -cp "$lib_dir/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" \
    -Dkafka.log.level=WARN "$@"
}

running_pid() {  # prints the broker's pid when it is alive
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  install
  if pid=$(running_pid); then
    say "already running (pid $pid) on 127.0.0.1:$port"
  else
    if port_open "$port"; then
      say "port $port is taken by another process: stop it or set KAFKA_PORT"
      exit 1
    fi
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@LOG_DIR@|$state_dir/data|g" "$here/server.properties" >"$state_dir/server.properties"
    if [ ! -f "$state_dir/data/meta.properties" ]; then
      java_tool kafka.tools.StorageTool format --ignore-formatted \
        --cluster-id "$(java_tool kafka.tools.StorageTool random-uuid)" \
        --config "$state_dir/server.properties" >/dev/null
    fi
    # setsid: the broker outlives this shell and ignores the terminal's Ctrl-C; `down` stops it.
    setsid java -Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC \
      -cp "$lib_dir/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" \
      kafka.Kafka "$state_dir/server.properties" >>"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    say "starting (pid $!), log in $log_file"
    local deadline=$((SECONDS + 60))
    until port_open "$port"; do
      if ! running_pid >/dev/null; then
        say "the broker exited during start-up; last lines of $log_file:"
        tail -n 20 "$log_file" >&2
        exit 1
      fi
      [ $SECONDS -lt $deadline ] || { say "no answer on port $port after 60 s"; exit 1; }
      sleep 0.2
    done
  fi
  create_topic "$topic"
  say "ready on 127.0.0.1:$port"
}

create_topic() {
  java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
    --create --if-not-exists --topic "$1" --partitions "$partitions" --replication-factor 1 \
    2>&1 | grep -v -e 'collide' -e '^Created topic' >&2 || true
  java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
    --describe --topic "$1" >/dev/null
}

down() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pid_file"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "no clean stop after 30 s; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  rm -f "$pid_file"
  say "stopped"
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  reset) down; rm -rf "$state_dir"; say "data deleted ($state_dir)" ;;
  status) if pid=$(running_pid); then say "running (pid $pid) on 127.0.0.1:$port"; else say "not running"; exit 1; fi ;;
  topic) create_topic "${2:-$topic}" ;;
  tool) shift; install; java_tool "$@" ;;
  *) sed -n '2,15p' "$0" >&2; exit 64 ;;
esac
