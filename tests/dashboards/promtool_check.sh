#!/usr/bin/env bash
# CTest dashboards_promtool (label unit): the Prometheus files of deploy/prometheus
# pass `promtool check config` (which also loads the rule file it names),
# `promtool check rules` and `promtool test rules` (the alert unit tests).
# Fails if any of them fails or if promtool is missing.
set -euo pipefail
src="${CUTOVER_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
dir="$src/deploy/prometheus"
promtool="${PROMTOOL:-promtool}"
command -v "$promtool" >/dev/null || { echo "FAIL: promtool not found (Debian package prometheus; deploy/setup.sh installs it)"; exit 1; }
"$promtool" --version 2>&1 | head -1
set -x
"$promtool" check config "$dir/prometheus.yml"
"$promtool" check rules "$dir/cutover-alerts.yml"
# Run from the tests directory: rule_files in the tests are relative to it.
(cd "$dir/tests" && "$promtool" test rules ./*.yml)
