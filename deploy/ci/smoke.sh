#!/usr/bin/env bash
# Poll URL until it answers 200 (and, when given, its body contains TEXT), or give up.
# usage: smoke.sh URL [TIMEOUT_S=300] [TEXT]
# Used by the deploy workflows on the freshly started container and on the deployed WebApp,
# which can take minutes to pull and swap the new image.
set -euo pipefail

url=${1:?usage: smoke.sh URL [TIMEOUT_S] [TEXT]}
timeout_s=${2:-300}
text=${3:-}
interval_s=${SMOKE_INTERVAL_S:-5}
body=$(mktemp)
trap 'rm -f "$body"' EXIT

deadline=$((SECONDS + timeout_s))
status="no answer"
while true; do
  code=$(curl --silent --show-error --max-time 10 --output "$body" --write-out '%{http_code}' \
    "$url" 2>/dev/null) || code="000"
  if [ "$code" = "200" ]; then
    if [ -z "$text" ] || grep -qF -- "$text" "$body"; then
      echo "smoke: $url answered 200"
      exit 0
    fi
    status="200 without \"$text\""
  else
    status="HTTP $code"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    break
  fi
  sleep "$interval_s"
done
echo "smoke: $url failed after ${timeout_s} s (last: $status)" >&2
head -c 2000 "$body" >&2 || true
exit 1
