#!/usr/bin/env bash
# `make demo`: the backend and the frontend side by side until Ctrl-C (or SIGTERM), then both
# are stopped and waited for; exit 130 on Ctrl-C, 143 on SIGTERM, 1 when a server dies alone.
#
# Each server runs in its own session and process group (setsid), so a Ctrl-C typed in the
# terminal reaches this script only; the trap then stops each group (uv and the Python server
# under it) with SIGTERM, and with SIGKILL after STOP_TIMEOUT_S. The trap is cleared before it kills
# anything, so it never re-enters itself (the old `trap 'kill 0' INT TERM EXIT` did, until
# bash overflowed its stack).
#
# Environment: UV (uv's path), API_PORT (8000), UI_PORT (7860), HOST (127.0.0.1; HOST=0.0.0.0
# listens on every interface), STOP_TIMEOUT_S (10), FLIPKART_STATS_PRIVATE (false).
# deploy/tests/test_demo_script.py runs it with stand-in servers and interrupts it.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

UV=${UV:-uv}
API_PORT=${API_PORT:-8000}
UI_PORT=${UI_PORT:-7860}
HOST=${HOST:-127.0.0.1}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-10}
# The UI reaches the API through loopback when the API listens on every interface.
case "$HOST" in
  0.0.0.0 | :: | "[::]") api_host=127.0.0.1 ;;
  *) api_host=$HOST ;;
esac

pids=()

# Run "$@" as the leader of a new session and process group (util-linux setsid, else Python's).
# Called in a background subshell, which is not a group leader: setsid needs no fork, and $!
# is the new group's id.
in_own_group() {
  if command -v setsid >/dev/null 2>&1; then
    exec setsid "$@"
  fi
  exec python3 -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

stop_servers() {
  local pid alive deadline
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  deadline=$((SECONDS + STOP_TIMEOUT_S))
  while :; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "demo: a server ignored SIGTERM for ${STOP_TIMEOUT_S} s: SIGKILL" >&2
      for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
      break
    fi
    sleep 0.2
  done
  wait 2>/dev/null
}

# shellcheck disable=SC2329 # called by the traps below
on_signal() {
  trap '' INT TERM # a second Ctrl-C while stopping must not re-enter
  trap - EXIT
  echo
  echo "demo: stopping the API and the UI"
  stop_servers
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'trap - EXIT; stop_servers' EXIT

(cd backend && PORT=$API_PORT FLIPKART_STATS_PRIVATE=${FLIPKART_STATS_PRIVATE:-false} \
  in_own_group "$UV" run --locked flipkart-api serve --host "$HOST") &
pids+=($!)
(cd frontend && PORT=$UI_PORT HOST=$HOST API_URL=http://$api_host:$API_PORT \
  in_own_group "$UV" run --locked flipkart-ui) &
pids+=($!)

# Announce the URLs once both answer (or say which one is late).
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for _ in $(seq 600); do
  port_open "$api_host" "$API_PORT" && port_open "$api_host" "$UI_PORT" && break
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done
  sleep 0.1
done
echo
echo "  API: http://$api_host:$API_PORT/docs"
echo "  UI:  http://$api_host:$UI_PORT"
echo "  (listening on $HOST; Ctrl-C stops both)"
echo

# Either server ending on its own ends the demo: stop the other one too.
wait -n
status=$?
echo "demo: a server stopped (exit $status): stopping the other one" >&2
trap - EXIT
stop_servers
exit 1
