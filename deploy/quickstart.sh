#!/usr/bin/env bash
# The main job, on a fresh machine: install, build, start a local sandbox
# (blue, green and control PostgreSQL 15 + PgBouncer in front of blue),
# generate a Hydra-1.x-shaped dataset on blue, copy it to green with one
# consistent snapshot, and print the copy and verify report.
#
#   deploy/quickstart.sh [--scale S] [--keep]
#     --scale S   dataset size; 1.0 = 1M access + 1M refresh tokens (~1.6 GB). Default 0.1.
#     --keep      leave the sandbox running at the end (stop: cutover-sandbox stop --dir DIR)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

scale=0.1
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="${2:?--scale needs a number, e.g. 0.1}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown option '$1' (expected --scale S, --keep)" >&2; exit 2 ;;
  esac
done

"$here/setup.sh"
bin="$root/build"
sandbox_tool="$bin/deploy/sandbox/cutover-sandbox"
work="$(mktemp -d /tmp/cutover-quickstart-XXXXXX)"
chmod 755 "$work"  # the postgres user must reach the sandbox inside
sandbox="$work/sandbox"

cleanup() {
  if [ "$keep" -eq 0 ]; then
    "$sandbox_tool" stop --dir "$sandbox" >/dev/null 2>&1 || true
    rm -rf "$work"
  else
    echo "sandbox left running in $sandbox (stop it with: $sandbox_tool stop --dir $sandbox)"
  fi
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }

step "Starting the sandbox (blue, green, control PostgreSQL 15 + PgBouncer)"
"$sandbox_tool" start --dir "$sandbox" --env-file "$work/env"
# shellcheck disable=SC1091
source "$work/env"
for dsn in "$BLUE_DSN" "$GREEN_DSN"; do
  psql "$dsn" -qAt -c "CREATE DATABASE hydra" >/dev/null
done
blue="$BLUE_DSN dbname=hydra"
green="$GREEN_DSN dbname=hydra"

step "Generating a Hydra-1.11-shaped dataset on blue (scale $scale)"
"$bin/deploy/hydra/cutover-datagen" --dsn "$blue" --scale "$scale"

step "Copying blue -> green (one snapshot, parallel binary COPY, indexes as tables finish, verify)"
"$bin/orchestrator/copy/cutover-copy" --blue "$blue" --green "$green" --table-jobs 2 --index-jobs 2
