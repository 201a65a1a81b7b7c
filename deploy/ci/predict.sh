#!/usr/bin/env bash
# Send one product photo to a prediction API and check the answer: HTTP 200 and a label.
# usage: predict.sh BASE_URL [IMAGE=the first sample photo of frontend/assets/images]
# Used on the image started on the runner (deploy/images.sh) and on the deployed WebApp.
set -euo pipefail

base=${1:?usage: predict.sh BASE_URL [IMAGE]}
image=${2:-$(find "$(dirname "$0")/../../frontend/assets/images" -name '*.jpg' | sort | head -n 1)}
[ -f "$image" ] || { echo "predict: no image at '$image'" >&2; exit 2; }
body=$(mktemp)
trap 'rm -f "$body"' EXIT

code=$(curl --silent --show-error --max-time 60 --output "$body" --write-out '%{http_code}' \
  --form "file=@$image" "${base%/}/v1/predict") || code="000"
label=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("label", ""))' \
  "$body" 2>/dev/null) || label=""
if [ "$code" = 200 ] && [ -n "$label" ]; then
  echo "predict: ${base%/}/v1/predict answered 200, label \"$label\""
  exit 0
fi
echo "predict: ${base%/}/v1/predict failed (HTTP $code)" >&2
head -c 2000 "$body" >&2 || true
exit 1
