#!/usr/bin/env bash
# A local Spark standalone cluster from the installed pyspark: one master and SPARK_WORKERS workers.
#
#   spark.sh up       start the master and every worker not running, wait until each has registered
#   spark.sh down     stop them (SIGTERM, then SIGKILL after 30 s); no-op when none runs
#   spark.sh status   exit 0 when the master and every worker run
#   spark.sh master   print the master's URL (SPARK_MASTER for the job)
#
# The wheel has no sbin/start-master.sh; each daemon is `spark-class` in the foreground, under
# setsid, with its pid and log in SPARK_STATE_DIR (master/, worker-i/; executors' logs are in
# worker-i/work/<app>/<executor>/stderr, their scratch files in worker-i/local). Everything binds
# to 127.0.0.1. The cluster takes only applications that know its secret, over encrypted RPC
# (SPARK_STATE_DIR/auth.properties, made by auth.sh: 0600, the owner's only; the job's
# SPARK_PROPERTIES_FILE).
# Environment: SPARK_WORKERS (2), SPARK_WORKER_CORES (1), SPARK_WORKER_MEMORY (1g),
# SPARK_MASTER_PORT (7077), SPARK_MASTER_WEBUI_PORT (8081), SPARK_STATE_DIR (data/cluster/spark),
# PYTHON (.venv/bin/python: the one whose pyspark is used).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
workers=${SPARK_WORKERS:-2}
master_port=${SPARK_MASTER_PORT:-7077}
webui_port=${SPARK_MASTER_WEBUI_PORT:-8081}
state_dir=$(mkdir -p "${SPARK_STATE_DIR:-$root/data/cluster/spark}" && cd "${SPARK_STATE_DIR:-$root/data/cluster/spark}" && pwd)
master_url=spark://127.0.0.1:$master_port
properties=$state_dir/auth.properties
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 SPARK_DAEMON_MEMORY=256m
SPARK_HOME=$("${PYTHON:-$root/.venv/bin/python}" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')

say() { echo "local/spark: $*" >&2; }

running_pid() {  # running_pid NAME : prints the daemon's pid when it is alive
  local pid pid_file=$state_dir/$1/pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && grep -q org.apache.spark.deploy "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# A daemon this script has just started: alive is enough. Until its process has exec'd spark-class
# (slow on a busy machine) its command line is still this script's, which running_pid would take
# for another program's.
starting() { kill -0 "$(cat "$state_dir/$1/pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {  # start NAME CLASS ARGS... : one daemon in the foreground of its own session
  local name=$1
  shift
  mkdir -p "$state_dir/$name"
  setsid "$SPARK_HOME/bin/spark-class" "$@" --properties-file "$properties" >"$state_dir/$name/log" 2>&1 </dev/null &
  echo $! >"$state_dir/$name/pid"
  say "$name starting (pid $!), log in $state_dir/$name/log"
}

wait_for() {  # wait_for NAME TEXT : until the daemon's log holds TEXT
  local deadline=$((SECONDS + 90))
  until grep -q "$2" "$state_dir/$1/log" 2>/dev/null; do
    if ! starting "$1"; then
      say "$1 exited during start-up; last lines of $state_dir/$1/log:"
      tail -n 20 "$state_dir/$1/log" >&2
      exit 1
    fi
    [ $SECONDS -lt $deadline ] || { say "$1: no '$2' after 90 s (see $state_dir/$1/log)"; exit 1; }
    sleep 0.3
  done
}

up() {
  local i
  "$here/auth.sh" "$properties"
  if pid=$(running_pid master); then
    say "master already running (pid $pid) at $master_url"
  else
    for port in "$master_port" "$webui_port"; do
      if port_open "$port"; then
        say "port $port is taken by another process: stop it or set SPARK_MASTER_PORT / SPARK_MASTER_WEBUI_PORT"
        exit 1
      fi
    done
    start master org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$master_port" --webui-port "$webui_port"
    wait_for master "I have been elected leader"
  fi
  for ((i = 1; i <= workers; i++)); do
    if pid=$(running_pid "worker-$i"); then
      say "worker-$i already running (pid $pid)"
      continue
    fi
    # Web UI port 0: any free one, so that workers never collide. Executors' scratch files (blocks,
    # state stores) in the worker's own folder, not in /tmp where a killed executor would leave them.
    mkdir -p "$state_dir/worker-$i/local"
    SPARK_LOCAL_DIRS=$state_dir/worker-$i/local start "worker-$i" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 \
      --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-1g}" --webui-port 0 \
      --work-dir "$state_dir/worker-$i/work" "$master_url"
  done
  for ((i = 1; i <= workers; i++)); do wait_for "worker-$i" "Successfully registered with master"; done
  say "ready: $master_url with $workers workers (web UI http://127.0.0.1:$webui_port)"
}

down() {  # the workers first (their executors go with them), then the master
  local dir name pid pids=()
  for dir in "$state_dir"/worker-* "$state_dir/master"; do
    name=${dir##*/}
    if pid=$(running_pid "$name"); then
      kill -TERM "$pid"
      pids+=("$pid")
    fi
    rm -f "$dir/pid"
  done
  local deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then
        say "pid $pid: no clean stop after 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      sleep 0.2
    done
  done
  ((${#pids[@]} == 0)) || say "stopped"
}

status() {
  local i missing=0
  for name in master $(for ((i = 1; i <= workers; i++)); do echo "worker-$i"; done); do
    if pid=$(running_pid "$name"); then say "$name running (pid $pid)"; else say "$name not running"; missing=1; fi
  done
  return $missing
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  master) echo "$master_url" ;;
  *) sed -n '2,17p' "$0" >&2; exit 64 ;;
esac
