#!/usr/bin/env bash
# Install the given Debian packages that dpkg does not list yet (apt-get update first; as root,
# through sudo otherwise). Used by .ci/run, deploy/engine.sh and deploy/images.sh.
set -euo pipefail
missing=()
for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -gt 0 ] || exit 0
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
echo "apt-install: ${missing[*]}" >&2
sudo_ apt-get update -qq
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
