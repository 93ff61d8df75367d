#!/usr/bin/env bash
# Installs dependencies, builds, and runs every default test through ctest.
#   deploy/test.sh              all default tests (labels unit, pg, kafka, e2e)
#   deploy/test.sh -L unit      extra arguments go to ctest
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
"$here/setup.sh"
cd "$root/build"
# bench and long chaos campaigns are not part of the default run.
# -j2: the clang sanitizer build and fuzz runs (labels fuzz, sanitize) run
# beside the other tests, which hold one lock and so still run one at a time
# (CUTOVER_SERIAL_LOCK in cmake/CutoverHelpers.cmake).
exec ctest -j2 --output-on-failure --timeout 900 -LE 'bench|chaos-long' "$@"
