#!/usr/bin/env bash
# `make images`: build the backend and frontend images for real, start each one and check it.
#
#   1. a Docker engine: the running one, else Debian's docker.io (installed with apt-get when
#      dockerd is missing, started as root in the background, overlay2);
#   2. the Python base: PYTHON_BASE=python:3.11-slim-bookworm (the Dockerfiles' default) where a
#      registry is reachable; otherwise (the default here) a Debian bookworm base built once with
#      debootstrap (python3, python3-venv, ca-certificates) and `docker import`ed as
#      flipkart-base:bookworm. The host's CA bundle is copied into it (SSL_CERT_FILE), so that
#      `uv sync` works behind a TLS-inspecting proxy. uv's image is made from the uv binary the
#      Makefile installed (same pinned version) when ghcr.io cannot be reached;
#   3. both images, with BuildKit: `docker buildx` and the named context `artifacts` when
#      buildx exists; with the classic client's BuildKit otherwise, where the `artifacts`
#      context is a local image made from artifacts/ (buildx-less engines have no named
#      contexts);
#   4. checks: non-root user, no compiler / uv / pytest inside, the HEALTHCHECK passes on a
#      container started on a loopback port (health polled every second), the image size and the
#      time from `docker run` to healthy. Results: deploy/results/images.json (IMAGES_RESULTS=).
#
# Environment: UV (uv's path, for its binary), PYTHON_BASE, DOCKER (docker client), MIRROR
# (Debian mirror for debootstrap), KEEP_CONTAINERS=1 (leave the check containers running).
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-uv}
UV_VERSION=$(sed -n 's/^FROM ghcr.io\/astral-sh\/uv:\([0-9.]*\) AS uv$/\1/p' backend/Dockerfile)
LOCAL_BASE=flipkart-base:bookworm
RESULTS=${IMAGES_RESULTS:-deploy/results/images.json}
API_IMAGE=${API_IMAGE:-flipkart-api:local}
UI_IMAGE=${UI_IMAGE:-flipkart-ui:local}
start_all=$SECONDS
log() { echo "images: $*" >&2; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. the engine -----------------------------------------------------------------------------
# Debian's client (20.10) speaks BuildKit without buildx; a newer client without its buildx
# plugin cannot, so prefer /usr/bin/docker then.
if [ -z "${DOCKER:-}" ]; then
  DOCKER=docker
  if ! docker buildx version >/dev/null 2>&1 && [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; fi
fi
if ! $DOCKER info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    log "no Docker engine: installing Debian's docker.io"
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq docker.io
    [ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
  fi
  log "starting dockerd (overlay2) in the background; log: /tmp/dockerd.log"
  sudo_ bash -c 'nohup dockerd --storage-driver overlay2 >/tmp/dockerd.log 2>&1 &'
  for _ in $(seq 60); do $DOCKER info >/dev/null 2>&1 && break; sleep 1; done
  $DOCKER info >/dev/null || { log "dockerd did not start (see /tmp/dockerd.log)"; exit 1; }
fi
buildx=0
$DOCKER buildx version >/dev/null 2>&1 && buildx=1

# --- 2. the bases ------------------------------------------------------------------------------
base_s=0
if [ -z "${PYTHON_BASE:-}" ]; then
  PYTHON_BASE=$LOCAL_BASE
  if ! $DOCKER image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || {
      sudo_ apt-get update -qq
      DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq debootstrap
    }
    t0=$SECONDS
    rootfs=$(mktemp -d /tmp/flipkart-base.XXXXXX)
    log "building $LOCAL_BASE with debootstrap in $rootfs (about a minute)"
    sudo_ debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" ${MIRROR:+"$MIRROR"} >/tmp/debootstrap.log 2>&1 ||
      { log "debootstrap failed (see /tmp/debootstrap.log)"; exit 1; }
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
if ! $DOCKER image inspect "$uv_image" >/dev/null 2>&1 && ! $DOCKER pull -q "$uv_image" >/dev/null 2>&1; then
  uv_bin=$(command -v "$UV")
  [ "$("$uv_bin" --version | cut -d' ' -f2)" = "$UV_VERSION" ] ||
    { log "$uv_bin is not uv $UV_VERSION: cannot stand in for $uv_image"; exit 1; }
  log "$uv_image unreachable: made from $uv_bin (uv $UV_VERSION, the same release)"
  tar -C "$(dirname "$uv_bin")" -c uv | $DOCKER import - "$uv_image" >/dev/null
fi

# --- 3. the images -----------------------------------------------------------------------------
build() { # name dockerfile [named-context]
  local image=$1 dockerfile=$2 context_args=()
  if [ -n "${3:-}" ]; then
    if [ "$buildx" -eq 1 ]; then
      context_args=(--build-context "$3=$3")
    else # a local image named after the context stands for it
      tar -C "$3" --exclude=./tmp --exclude=./checkpoints -c . | $DOCKER import - "$3" >/dev/null
    fi
  fi
  if [ "$buildx" -eq 1 ]; then
    $DOCKER buildx build --load "${context_args[@]}" --build-arg "PYTHON_BASE=$PYTHON_BASE" \
      -f "$dockerfile" -t "$image" .
  else
    DOCKER_BUILDKIT=1 $DOCKER build --build-arg "PYTHON_BASE=$PYTHON_BASE" \
      -f "$dockerfile" -t "$image" .
  fi
}
t0=$SECONDS
log "building $API_IMAGE"
build "$API_IMAGE" backend/Dockerfile artifacts
api_build_s=$((SECONDS - t0))
t0=$SECONDS
log "building $UI_IMAGE"
build "$UI_IMAGE" frontend/Dockerfile
ui_build_s=$((SECONDS - t0))

# --- 4. the checks -----------------------------------------------------------------------------
failures=()
fail() { log "FAIL $*"; failures+=("$*"); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

check() { # image container_port -> sets size_mb, health_s
  local image=$1 port=$2 user found host_port name started status size
  health_s=null
  user=$($DOCKER image inspect -f '{{.Config.User}}' "$image")
  case "$user" in "" | 0 | 0:* | root | root:*) fail "$image runs as root ('$user')" ;; esac
  [ "$($DOCKER run --rm --entrypoint id "$image" -u)" != 0 ] || fail "$image: id -u is 0"
  # shellcheck disable=SC2016 # expanded inside the container
  found=$($DOCKER run --rm --entrypoint sh "$image" -c \
    'for t in gcc cc c++ g++ clang make ld as uv pytest; do command -v "$t"; done;
     python -c "import pytest" 2>/dev/null && echo "python: import pytest"; true')
  [ -z "$found" ] || fail "$image contains: $(echo "$found" | tr '\n' ' ')"
  [ "$($DOCKER image inspect -f '{{if .Config.Healthcheck}}yes{{end}}' "$image")" = yes ] ||
    fail "$image has no HEALTHCHECK"
  host_port=$(free_port)
  name="images-check-$$-$port"
  started=$(date +%s.%N)
  $DOCKER run -d --name "$name" -p "127.0.0.1:$host_port:$port" --health-interval 1s "$image" >/dev/null
  for _ in $(seq 180); do
    status=$($DOCKER inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null || echo gone)
    [ "$status" = healthy ] && { health_s=$(python3 -c "import time; print(round(time.time() - $started, 1))"); break; }
    [ "$status" = unhealthy ] || [ "$status" = gone ] && break
    sleep 0.5
  done
  if [ "$status" != healthy ]; then
    fail "$image never healthy ($status)"
    $DOCKER logs --tail 30 "$name" >&2 || true
  elif ! python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$host_port/', timeout=10)" 2>/dev/null &&
    ! python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$host_port/health', timeout=10)"; then
    fail "$image healthy but 127.0.0.1:$host_port does not answer"
  fi
  [ -n "${KEEP_CONTAINERS:-}" ] || $DOCKER rm -f -v "$name" >/dev/null # -v: /data's volume too
  size=$($DOCKER image inspect -f '{{.Size}}' "$image")
  size_mb=$((size / 1000000))
}
check "$API_IMAGE" 8000
api_mb=$size_mb api_health_s=$health_s
check "$UI_IMAGE" 7860
ui_mb=$size_mb ui_health_s=$health_s
[ "$api_mb" -le 450 ] || log "note: $API_IMAGE is $api_mb MB (aim: 450)"
[ "$ui_mb" -le 800 ] || log "note: $UI_IMAGE is $ui_mb MB (aim: 800)"

mkdir -p "$(dirname "$RESULTS")"
cat >"$RESULTS" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "machine": "$(nproc) cores, $(uname -m), engine $($DOCKER version -f '{{.Server.Version}}'), buildx $buildx",
  "python_base": "$PYTHON_BASE",
  "base_build_s": $base_s,
  "backend": {"image": "$API_IMAGE", "size_mb": $api_mb, "aim_mb": 450, "build_s": $api_build_s, "healthy_after_s": $api_health_s},
  "frontend": {"image": "$UI_IMAGE", "size_mb": $ui_mb, "aim_mb": 800, "build_s": $ui_build_s, "healthy_after_s": $ui_health_s},
  "total_s": $((SECONDS - start_all)),
  "failures": ${#failures[@]}
}
EOF
cat "$RESULTS"
if [ ${#failures[@]} -gt 0 ]; then
  log "${#failures[@]} check(s) failed: ${failures[*]}"
  exit 1
fi
log "both images built and checked in $((SECONDS - start_all)) s"
