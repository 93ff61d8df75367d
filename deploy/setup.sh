#!/usr/bin/env bash
# Installs exactly the Debian packages cutover needs (idempotent: quiet when
# everything is there, loud on failure) and builds the project with CMake.
#
#   deploy/setup.sh                 install + Release build in ./build
#   deploy/setup.sh --no-build      install only
#   deploy/setup.sh --sanitize      also build ./build-sanitize (clang ASan + UBSan +
#                                   libFuzzer: unit tests and fuzzers, docs/fuzzing.md)
#
# Package choices (all Debian bookworm):
#   build:      build-essential cmake pkg-config git
#   RPC:        libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
#   core libs:  libabsl-dev (Status/StatusOr, Mutex), libspdlog-dev libfmt-dev (logging)
#   PostgreSQL: libpqxx-dev (statements) libpq-dev (raw COPY streaming)
#               libpg-query-dev (PostgreSQL's parser as a library: the migration linter)
#   Kafka:      librdkafka-dev (client + rdkafka_mock.h mock cluster for tests)
#   CLI:        libcli11-dev (argument parsing for cutoverctl and tools)
#   metrics:    prometheus-cpp-dev libcivetweb-dev (/metrics and the status page)
#   webhooks:   libcurl4-openssl-dev (HTTP client) libssl-dev (HMAC-SHA256 signatures)
#   dashboards: prometheus (its promtool checks deploy/prometheus; a test scrapes cutoverd)
#               chromium (headless: the status page test renders the live page)
#   fuzzing:    clang libclang-rt-14-dev (libFuzzer targets in tests/fuzz)
#   tests:      libgtest-dev libgmock-dev
#   servers:    postgresql-15 postgresql-client-15 postgresql-contrib (pgbench) pgbouncer
#   benchmarks: pgcopydb (the copy benchmark's reference)
#   scripts:    jq (reads cutoverctl/cutover-check JSON in quickstart.sh and runbooks)
#   lint:       shellcheck (deploy/runbooks/cutover.sh is kept shellcheck-clean)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

build=1
sanitize=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --sanitize) sanitize=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --no-build, --sanitize)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev
  libpqxx-dev libpq-dev
  libpg-query-dev
  librdkafka-dev
  libcli11-dev
  prometheus-cpp-dev libcivetweb-dev
  libcurl4-openssl-dev libssl-dev
  prometheus chromium
  clang libclang-rt-14-dev
  libgtest-dev libgmock-dev
  postgresql-15 postgresql-client-15 postgresql-contrib pgbouncer
  pgcopydb
  jq
  shellcheck
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: not root and no sudo: cannot install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp /tmp/cutover-setup-apt.XXXXXX.log)"
  if ! $SUDO apt-get update -qq >"$log" 2>&1; then
    echo "setup: apt-get update FAILED; log follows" >&2; cat "$log" >&2; exit 1
  fi
  # Debian's postgresql-common would create and start a default cluster on
  # 5432; cutover never uses it (the sandbox runs its own clusters).
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $SUDO mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    echo "setup: apt-get install FAILED for: ${missing[*]}; log follows" >&2; tail -n 60 "$log" >&2; exit 1
  fi
  rm -f "$log"
fi

# pgbouncer's package starts a system instance on 6432; the sandbox runs its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet pgbouncer 2>/dev/null; then
  systemctl stop pgbouncer || true
fi

[ "$build" -eq 1 ] || exit 0

cmake_build() {
  local dir="$1"; shift
  if ! cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1; then
    echo "setup: cmake configure FAILED ($dir); log follows" >&2; cat "$dir.configure.log" >&2; exit 1
  fi
  if ! cmake --build "$dir" -j2 >"$dir.build.log" 2>&1; then
    echo "setup: build FAILED ($dir); last lines follow (full log: $dir.build.log)" >&2
    grep -E 'error|Error' "$dir.build.log" | head -n 40 >&2 || true
    tail -n 20 "$dir.build.log" >&2; exit 1
  fi
}
mkdir -p "$root/build"
cmake_build "$root/build"
if [ "$sanitize" -eq 1 ]; then
  # The same build the default suite's sanitize_build test makes (tests/fuzz).
  "$root/tests/fuzz/sanitize_build.sh" "$root" "$root/build-sanitize"
fi
echo "setup: build ready in $root/build"
