#!/usr/bin/env bash
# The Docker tooling of the compose runtime test: an engine, Docker Compose v2 and docker-compose 1.29.
#
#   engine.sh up      start a Docker engine unless one answers; make both Compose tools available
#   engine.sh down    stop the engine if `up` started it, its build cache emptied first (an engine
#                     that was already there stays, and keeps its cache)
#   engine.sh env     print the DOCKER_CONFIG under which `docker compose` is the pinned v2
#
# An engine that answers is used as it is. Otherwise Debian's docker.io is installed if missing and
# dockerd started without iptables (containers talk to each other on user-defined networks, not to
# the outside), with the first storage driver of STORAGE_DRIVERS it can start: overlay2 where the
# kernel and the disk allow it, else vfs, which works everywhere but copies an image's whole file
# system for every container and every build step (a Spark container: 7 s on vfs, 0.3 s on overlay2).
# Compose v2 is built once, at the version pinned below, from the Go module proxy into the cache;
# docker-compose 1.29 is Debian's package.
#
# Environment: COMPOSE_TEST_CACHE (.cache/compose-test): compose binary, dockerd log and pid file;
#              STORAGE_DRIVERS ("overlay2 vfs"): the storage drivers to try, in order.
set -euo pipefail

COMPOSE_V2_VERSION=v2.40.3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${COMPOSE_TEST_CACHE:-$root/.cache/compose-test}
docker_config=$cache/docker-config
pid_file=$cache/dockerd.pid
log_file=$cache/dockerd.log
storage_drivers=${STORAGE_DRIVERS:-overlay2 vfs}

say() { echo "compose-test: $*" >&2; }

apt_install() {  # apt_install PACKAGE... : only those whose command is missing are asked for
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing: $*; install them (Debian: sudo apt-get install $*) or run as root"
    exit 1
  fi
  say "installing $* (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_tools() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  apt_install "${missing[@]}"
  command -v go >/dev/null || { say "Go is needed to build Docker Compose $COMPOSE_V2_VERSION"; exit 1; }
}

compose_v2() {  # the pinned Compose v2 as a CLI plugin of $docker_config, built once
  local plugin=$docker_config/cli-plugins/docker-compose
  if [ -x "$plugin" ] && DOCKER_CONFIG=$docker_config docker compose version | grep -qF "$COMPOSE_V2_VERSION"; then
    return 0
  fi
  say "building Docker Compose $COMPOSE_V2_VERSION from the Go module proxy (once, a few minutes)"
  local module=github.com/docker/compose/v2@$COMPOSE_V2_VERSION src
  src=$(go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$(dirname "$plugin")"
  # Inside the module's own folder, so that its go.mod (replace and exclude lines) applies.
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$plugin.tmp" \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_V2_VERSION" ./cmd)
  mv "$plugin.tmp" "$plugin"
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {  # start_dockerd DRIVER: true once it answers, false when it has exited
  setsid dockerd --storage-driver="$1" --iptables=false >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local deadline=$((SECONDS + 60))
  until engine_answers; do
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      rm -f "$pid_file"
      return 1
    fi
    [ $SECONDS -lt $deadline ] || { say "dockerd does not answer after 60 s"; exit 1; }
    sleep 0.5
  done
}

up() {
  mkdir -p "$cache"
  if ! engine_answers && [ "$(id -u)" != 0 ]; then
    say "no Docker engine answers, and only root can start one here: start Docker, or run as root"
    exit 1
  fi
  install_tools
  compose_v2
  if engine_answers; then
    say "using the Docker engine that answers ($(docker info --format '{{.ServerVersion}}'))"
  else
    local driver
    for driver in $storage_drivers; do
      say "starting dockerd ($driver, no iptables), log in $log_file"
      start_dockerd "$driver" && break
      say "dockerd cannot start with $driver here; the last line of $log_file:"
      tail -n 1 "$log_file" >&2
    done
    engine_answers || { say "no storage driver of '$storage_drivers' starts"; exit 1; }
  fi
  say "ready: storage driver $(docker info --format '{{.Driver}}'), $(DOCKER_CONFIG=$docker_config docker compose version), $(docker-compose version --short) (docker-compose)"
}

down() {
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    # Our own engine: its build cache (Compose v2 builds with BuildKit) goes, or its layers (full
    # copies on vfs) pile up run after run. The images stay; images.py keeps them in check.
    docker builder prune --all --force >/dev/null 2>&1 || say "could not empty the build cache"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { kill -KILL "$pid" 2>/dev/null || true; }
      sleep 0.5
    done
    say "dockerd stopped"
  fi
  rm -f "$pid_file"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "DOCKER_CONFIG=$docker_config" ;;
  *) sed -n '2,17p' "$0" >&2; exit 64 ;;
esac
