#!/usr/bin/env bash
# The Docker engine the image builds and the stack test use.
#
#   engine.sh client    print the docker client to use (one that can build with BuildKit)
#   engine.sh running   exit 0 when an engine answers
#   engine.sh start     when no engine answers: install Debian's docker.io if dockerd is missing
#                       (apt-get as root), start dockerd (overlay2) and wait for it, at most
#                       ENGINE_WAIT_S (60) seconds; log: /tmp/dockerd.log
#   engine.sh stop      stop the dockerd this machine runs (its pid file), waiting at most 60 s
#   engine.sh remove-project NAME   remove a compose project's containers, networks and volumes
#                       (by their com.docker.compose.project label), even without its file
#
# GitHub's runners have a running engine and buildx: `start` then does nothing.
set -euo pipefail

log() { echo "engine: $*" >&2; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian's client (20.10) speaks BuildKit without buildx; a newer client without its buildx
# plugin cannot, so prefer /usr/bin/docker then.
client() {
  if [ -n "${DOCKER:-}" ]; then
    echo "$DOCKER"
  elif ! docker buildx version >/dev/null 2>&1 && [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  else
    echo docker
  fi
}

running() { "$(client)" info >/dev/null 2>&1; }

start() {
  local wait_s=${ENGINE_WAIT_S:-60} t0=$SECONDS
  running && return 0
  if ! command -v dockerd >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    bash "$(dirname "$0")/apt-install.sh" docker.io
  fi
  command -v dockerd >/dev/null 2>&1 || { log "no dockerd and no apt-get to install it"; return 1; }
  log "starting dockerd (overlay2) in the background; log: /tmp/dockerd.log"
  sudo_ bash -c 'nohup dockerd --storage-driver overlay2 >/tmp/dockerd.log 2>&1 &'
  while ! running; do
    if [ $((SECONDS - t0)) -ge "$wait_s" ]; then
      log "dockerd did not answer within ${wait_s} s; last lines of /tmp/dockerd.log:"
      tail -n 20 /tmp/dockerd.log >&2 || true
      return 1
    fi
    sleep 1
  done
  log "dockerd answered after $((SECONDS - t0)) s"
}

stop() {
  local pid_file=/var/run/docker.pid pid
  [ -s "$pid_file" ] || { log "no $pid_file: no dockerd to stop"; return 0; }
  pid=$(cat "$pid_file")
  log "stopping dockerd (pid $pid)"
  sudo_ kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 60); do
    sudo_ kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  log "dockerd (pid $pid) still running after 60 s"
  return 1
}

remove_project() {
  local docker label ids
  docker=$(client)
  label="label=com.docker.compose.project=${1:?usage: engine.sh remove-project NAME}"
  ids=$("$docker" ps -aq --filter "$label")
  # shellcheck disable=SC2086 # one id per word
  [ -z "$ids" ] || "$docker" rm -f -v $ids >/dev/null
  ids=$("$docker" network ls -q --filter "$label")
  # shellcheck disable=SC2086
  [ -z "$ids" ] || "$docker" network rm $ids >/dev/null
  ids=$("$docker" volume ls -q --filter "$label")
  # shellcheck disable=SC2086
  [ -z "$ids" ] || "$docker" volume rm -f $ids >/dev/null
}

case "${1:-}" in
  client | running | start | stop) "$1" ;;
  remove-project) remove_project "${2:-}" ;;
  *)
    echo "usage: engine.sh client|running|start|stop|remove-project NAME" >&2
    exit 2
    ;;
esac
