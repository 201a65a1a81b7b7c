#!/usr/bin/env bash
# Build the project's images for real, start each one and check it: what `make images` runs
# here and in .ci/run, and what the deploy workflows run on GitHub (one script, both callers).
#
#   bash deploy/images.sh [IMAGE...]   IMAGE: backend frontend tensorboard postgres prometheus
#                                      proxy (default: all six)
#
#   1. a Docker engine (deploy/engine.sh: the running one, else Debian's docker.io installed and
#      dockerd started as root);
#   2. the bases, chosen by build arguments. PYTHON_BASE (backend, frontend, TensorBoard):
#      `python-base`, the Dockerfiles' own stage on the official python:3.11-slim-bookworm
#      (what GitHub and Azure use), or any image name. DEBIAN_BASE (PostgreSQL, Prometheus, the
#      scale profile's nginx proxy: Debian's packages): `debian-base`, their stage on
#      debian:bookworm-slim. When PYTHON_BASE is not set (the default here, no registry
#      reachable) both are a Debian bookworm base built once with debootstrap (python3,
#      python3-venv, ca-certificates) and `docker import`ed as flipkart-base:bookworm, with the
#      host's CA bundle inside (SSL_CERT_FILE) so that `uv sync` works behind a TLS-inspecting
#      proxy. uv's image is made from the uv binary the Makefile installed (same pinned
#      version) when ghcr.io cannot be reached;
#   3. the images, with BuildKit: `docker buildx` and the named context `artifacts` when buildx
#      exists; else the classic client's BuildKit, where the `artifacts` context is a local image
#      made from artifacts/ (buildx-less engines have no named contexts). Tags: the names
#      docker-compose.yml uses (API_IMAGE, UI_IMAGE, TENSORBOARD_IMAGE, POSTGRES_IMAGE,
#      PROMETHEUS_IMAGE, PROXY_IMAGE override them); IMAGE_LABELS: one key=value label per line;
#   4. checks: non-root user, no compiler / make / uv / pytest inside, a HEALTHCHECK that reports
#      healthy on a container started on a loopback port (health polled every second), its
#      page answering from the host; the API also answers /ready and one prediction
#      (deploy/ci/smoke.sh, deploy/ci/predict.sh: the deploy workflows' smoke tests). Image
#      sizes, build times and the time from `docker run` to healthy: deploy/results/images.json
#      (IMAGES_RESULTS=).
#
# Environment: UV (uv's path, for its binary), PYTHON_BASE, DEBIAN_BASE, DOCKER (client), MIRROR
# (Debian mirror for debootstrap), HEALTHY_WAIT_S (120), KEEP_CONTAINERS=1 (leave the check
# containers running).
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-uv}
UV_VERSION=$(sed -n 's/^FROM ghcr.io\/astral-sh\/uv:\([0-9.]*\) AS uv$/\1/p' backend/Dockerfile)
LOCAL_BASE=flipkart-base:bookworm
RESULTS=${IMAGES_RESULTS:-deploy/results/images.json}
HEALTHY_WAIT_S=${HEALTHY_WAIT_S:-120}
ALL=(backend frontend tensorboard postgres prometheus proxy)
WANTED=("$@")
[ ${#WANTED[@]} -gt 0 ] || WANTED=("${ALL[@]}")
start_all=$SECONDS
log() { echo "images: $*" >&2; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
wanted() { [[ " ${WANTED[*]} " == *" $1 "* ]]; }
for name in "${WANTED[@]}"; do
  [[ " ${ALL[*]} " == *" $name "* ]] || { log "unknown image '$name' (one of: ${ALL[*]})"; exit 2; }
done

# name -> tag, Dockerfile, build context, container port, probe path, extra `docker run` options
declare -A TAG=(
  [backend]=${API_IMAGE:-flipkart/flipkart-api:local}
  [frontend]=${UI_IMAGE:-flipkart/flipkart-ui:local}
  [tensorboard]=${TENSORBOARD_IMAGE:-flipkart/flipkart-tensorboard:local}
  [postgres]=${POSTGRES_IMAGE:-flipkart/postgres:local}
  [prometheus]=${PROMETHEUS_IMAGE:-flipkart/prometheus:local}
  [proxy]=${PROXY_IMAGE:-flipkart/flipkart-proxy:local}
)
declare -A DOCKERFILE=([backend]=backend/Dockerfile [frontend]=frontend/Dockerfile
  [tensorboard]=deploy/tensorboard/Dockerfile [postgres]=deploy/postgres/Dockerfile
  [prometheus]=deploy/prometheus/Dockerfile [proxy]=deploy/proxy/Dockerfile)
declare -A CONTEXT=([backend]=. [frontend]=. [tensorboard]=deploy/tensorboard
  [postgres]=deploy/postgres [prometheus]=deploy/prometheus [proxy]=deploy/proxy)
declare -A PORT=([backend]=8000 [frontend]=7860 [tensorboard]=6006 [postgres]=5432 [prometheus]=9090
  [proxy]=8080)
declare -A PROBE=([backend]=/ready [frontend]=/ [tensorboard]=/data/runs [postgres]=""
  [prometheus]=/-/ready [proxy]=/proxy/health)
# The UI with no backend reachable must still serve its page; Azure sets WEBSITES_PORT. The proxy
# resolves its replicas' names at start-up: here they name the loopback (no replica answers).
declare -A RUN_ARGS=([backend]="-e WEBSITES_PORT=8000"
  [frontend]="-e WEBSITES_PORT=7860 -e API_URL=http://127.0.0.1:9"
  [tensorboard]="" [postgres]="-e POSTGRES_PASSWORD=check" [prometheus]=""
  [proxy]="--add-host backend-a:127.0.0.1 --add-host backend-b:127.0.0.1")

# --- 1. the engine -----------------------------------------------------------------------------
bash deploy/engine.sh start
DOCKER=$(bash deploy/engine.sh client)
buildx=0
$DOCKER buildx version >/dev/null 2>&1 && buildx=1

# Containers this run starts are removed however it ends.
CONTAINERS=()
cleanup() {
  [ -n "${KEEP_CONTAINERS:-}" ] || [ ${#CONTAINERS[@]} -eq 0 ] ||
    $DOCKER rm -f -v "${CONTAINERS[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- 2. the bases ------------------------------------------------------------------------------
base_s=0
if [ -z "${PYTHON_BASE:-}" ]; then
  PYTHON_BASE=$LOCAL_BASE
  DEBIAN_BASE=${DEBIAN_BASE:-$LOCAL_BASE}
  if ! $DOCKER image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || bash deploy/apt-install.sh debootstrap
    t0=$SECONDS
    rootfs=$(mktemp -d /tmp/flipkart-base.XXXXXX)
    log "building $LOCAL_BASE with debootstrap in $rootfs (about a minute)"
    sudo_ debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" ${MIRROR:+"$MIRROR"} >/tmp/debootstrap.log 2>&1 ||
      { log "debootstrap failed (see /tmp/debootstrap.log)"; sudo_ rm -rf "$rootfs"; exit 1; }
    sudo_ cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    # Nothing a service reads: apt's caches, documentation, manual pages, translations.
    sudo_ rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
      "$rootfs"/usr/share/locale/*
    sudo_ tar -C "$rootfs" -c . | $DOCKER import \
      --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
    sudo_ rm -rf "$rootfs"
    base_s=$((SECONDS - t0))
  fi
fi
uv_image="ghcr.io/astral-sh/uv:$UV_VERSION"
if { wanted backend || wanted frontend || wanted tensorboard; } &&
  ! $DOCKER image inspect "$uv_image" >/dev/null 2>&1 &&
  ! timeout 60 "$DOCKER" pull -q "$uv_image" >/dev/null 2>&1; then
  uv_bin=$(command -v "$UV")
  [ "$("$uv_bin" --version | cut -d' ' -f2)" = "$UV_VERSION" ] ||
    { log "$uv_bin is not uv $UV_VERSION: cannot stand in for $uv_image"; exit 1; }
  log "$uv_image unreachable: made from $uv_bin (uv $UV_VERSION, the same release)"
  tar -C "$(dirname "$uv_bin")" -c uv | $DOCKER import - "$uv_image" >/dev/null
fi

# --- 3. the images -----------------------------------------------------------------------------
build() { # name
  local name=$1 args=()
  case $name in
    postgres | prometheus | proxy) [ -z "${DEBIAN_BASE:-}" ] || args+=(--build-arg "DEBIAN_BASE=$DEBIAN_BASE") ;;
    *) args+=(--build-arg "PYTHON_BASE=$PYTHON_BASE") ;;
  esac
  local label
  while IFS= read -r label; do [ -z "$label" ] || args+=(--label "$label"); done <<<"${IMAGE_LABELS:-}"
  if [ "$name" = backend ]; then # the models: a named context
    if [ "$buildx" -eq 1 ]; then
      args+=(--build-context artifacts=artifacts)
    else # a local image named after the context stands for it
      tar -C artifacts --exclude=./tmp --exclude=./checkpoints -c . | $DOCKER import - artifacts >/dev/null
    fi
  fi
  log "building ${TAG[$name]} (${DOCKERFILE[$name]})"
  if [ "$buildx" -eq 1 ]; then
    $DOCKER buildx build --load "${args[@]}" -f "${DOCKERFILE[$name]}" -t "${TAG[$name]}" "${CONTEXT[$name]}"
  else
    DOCKER_BUILDKIT=1 $DOCKER build "${args[@]}" -f "${DOCKERFILE[$name]}" -t "${TAG[$name]}" "${CONTEXT[$name]}"
  fi
}
declare -A BUILD_S
for name in "${WANTED[@]}"; do
  t0=$SECONDS
  build "$name"
  BUILD_S[$name]=$((SECONDS - t0))
done

# --- 4. the checks -----------------------------------------------------------------------------
failures=()
fail() { log "FAIL $*"; failures+=("$*"); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$1"; }

declare -A SIZE_MB HEALTH_S
check() { # name
  local name=$1 image=${TAG[$1]} port=${PORT[$1]} user found host_port container started status
  HEALTH_S[$name]=null
  user=$($DOCKER image inspect -f '{{.Config.User}}' "$image")
  case "$user" in "" | 0 | 0:* | root | root:*) fail "$image runs as root ('$user')" ;; esac
  [ "$($DOCKER run --rm --entrypoint id "$image" -u)" != 0 ] || fail "$image: id -u is 0"
  # shellcheck disable=SC2016 # expanded inside the container
  found=$($DOCKER run --rm --entrypoint sh "$image" -c \
    'for t in gcc cc c++ g++ clang make ld as uv pytest; do command -v "$t"; done;
     for p in python python3; do
       command -v "$p" >/dev/null && "$p" -c "import pytest" 2>/dev/null && echo "$p: import pytest";
     done; true')
  [ -z "$found" ] || fail "$image contains: $(echo "$found" | tr '\n' ' ')"
  [ "$($DOCKER image inspect -f '{{if .Config.Healthcheck}}yes{{end}}' "$image")" = yes ] ||
    fail "$image has no HEALTHCHECK"
  host_port=$(free_port)
  container="images-check-$$-$name"
  CONTAINERS+=("$container")
  started=$(now)
  # shellcheck disable=SC2086 # RUN_ARGS holds several options
  $DOCKER run -d --name "$container" -p "127.0.0.1:$host_port:$port" --health-interval 1s \
    ${RUN_ARGS[$name]} "$image" >/dev/null
  local deadline=$((SECONDS + HEALTHY_WAIT_S))
  while true; do
    status=$($DOCKER inspect -f '{{.State.Health.Status}}' "$container" 2>/dev/null || echo gone)
    if [ "$status" = healthy ]; then HEALTH_S[$name]=$(since "$started"); break; fi
    if [ "$status" = unhealthy ] || [ "$status" = gone ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.5
  done
  if [ "$status" != healthy ]; then
    fail "$image not healthy within ${HEALTHY_WAIT_S} s ($status)"
    $DOCKER logs --tail 30 "$container" >&2 || true
  elif [ -n "${PROBE[$name]}" ]; then
    local url="http://127.0.0.1:$host_port${PROBE[$name]}"
    SMOKE_INTERVAL_S=1 bash deploy/ci/smoke.sh "$url" 20 >&2 || fail "$image healthy but $url does not answer 200"
    if [ "$name" = backend ]; then
      bash deploy/ci/predict.sh "http://127.0.0.1:$host_port" >&2 || fail "$image: no prediction"
    fi
    if [ "$name" = proxy ]; then # no replica answers: the API's error shape, not nginx's page
      python3 - "http://127.0.0.1:$host_port/health" <<'PY' >&2 || fail "$image: no JSON 502 without replicas"
import json, sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=30)
    sys.exit("answered 200 with no replica")
except urllib.error.HTTPError as answer:
    body = json.loads(answer.read())
    assert answer.code == 502 and body["error"]["code"] == "upstream_unavailable", body
PY
    fi
  fi
  [ -n "${KEEP_CONTAINERS:-}" ] || $DOCKER rm -f -v "$container" >/dev/null # -v: its volumes too
  SIZE_MB[$name]=$(($($DOCKER image inspect -f '{{.Size}}' "$image") / 1000000))
}
declare -A AIM_MB=([backend]=450 [frontend]=800)
for name in "${WANTED[@]}"; do
  check "$name"
  aim=${AIM_MB[$name]:-}
  [ -z "$aim" ] || [ "${SIZE_MB[$name]}" -le "$aim" ] || log "note: ${TAG[$name]} is ${SIZE_MB[$name]} MB (aim: $aim)"
done

mkdir -p "$(dirname "$RESULTS")"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"machine\": \"$(nproc) cores, $(uname -m), engine $($DOCKER version -f '{{.Server.Version}}'), buildx $buildx\","
  echo "  \"python_base\": \"$PYTHON_BASE\","
  echo "  \"debian_base\": \"${DEBIAN_BASE:-debian-base}\","
  echo "  \"base_build_s\": $base_s,"
  for name in "${WANTED[@]}"; do
    aim=${AIM_MB[$name]:-}
    echo "  \"$name\": {\"image\": \"${TAG[$name]}\", \"size_mb\": ${SIZE_MB[$name]},${aim:+ \"aim_mb\": $aim,} \"build_s\": ${BUILD_S[$name]}, \"healthy_after_s\": ${HEALTH_S[$name]}},"
  done
  echo "  \"total_s\": $((SECONDS - start_all)),"
  echo "  \"failures\": ${#failures[@]}"
  echo "}"
} >"$RESULTS"
cat "$RESULTS"
if [ ${#failures[@]} -gt 0 ]; then
  log "${#failures[@]} check(s) failed: ${failures[*]}"
  exit 1
fi
log "${WANTED[*]}: built and checked in $((SECONDS - start_all)) s"
