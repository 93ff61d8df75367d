#!/usr/bin/env bash
# Configures (once) and builds the clang ASan + UBSan + libFuzzer build of
# cutover that the default suite tests (docs/fuzzing.md): the `unit` tests
# and the fuzz targets only (target cutover_unit_tests + cutover_fuzzers),
# not the e2e/pg tests, benchmarks or daemons. Incremental on re-runs.
#   sanitize_build.sh SOURCE_DIR BUILD_DIR
# Environment: CUTOVER_SANITIZE_JOBS (default 2) parallel compile jobs.
set -euo pipefail
src="${1:?usage: sanitize_build.sh SOURCE_DIR BUILD_DIR}"
dir="${2:?usage: sanitize_build.sh SOURCE_DIR BUILD_DIR}"
jobs="${CUTOVER_SANITIZE_JOBS:-2}"

for tool in clang clang++; do
  command -v "$tool" >/dev/null || {
    echo "sanitize_build: $tool not found: install clang and libclang-rt-14-dev (deploy/setup.sh)" >&2; exit 1; }
done
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
     clang++ -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
  echo "sanitize_build: clang cannot link -fsanitize=fuzzer,address,undefined: install libclang-rt-14-dev" >&2
  exit 1
fi

mkdir -p "$dir"
# One build at a time per directory (two suites started side by side).
exec 9>"$dir/.sanitize_build.lock"
flock 9

start=$(date +%s)
if [ ! -f "$dir/CMakeCache.txt" ]; then
  echo "sanitize_build: configuring $dir (clang, CUTOVER_FUZZ=ON: ASan + UBSan + libFuzzer coverage)"
  # -O0 compiles ~2x faster than -O1 under ASan (the libraries the fuzzers
  # exercise get -O1 back in tests/fuzz/CMakeLists.txt); line tables only:
  # symbolized reports; asserts kept (no NDEBUG); lld links faster.
  if ! cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
       -DCUTOVER_FUZZ=ON -DCUTOVER_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -gline-tables-only" \
       -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -gline-tables-only" \
       -DCMAKE_EXE_LINKER_FLAGS="-fuse-ld=lld" >"$dir/configure.log" 2>&1; then
    echo "sanitize_build: configure FAILED; log follows" >&2
    cat "$dir/configure.log" >&2
    rm -f "$dir/CMakeCache.txt"
    exit 1
  fi
fi

echo "sanitize_build: building cutover_unit_tests cutover_fuzzers in $dir (-j$jobs)"
if ! cmake --build "$dir" -j"$jobs" --target cutover_unit_tests cutover_fuzzers >"$dir/build.log" 2>&1; then
  echo "sanitize_build: build FAILED (full log: $dir/build.log); errors follow" >&2
  grep -E -A5 'error:|Error [0-9]|undefined reference|undefined symbol' "$dir/build.log" | head -n 80 >&2 || true
  tail -n 15 "$dir/build.log" >&2
  exit 1
fi
compiled=$(grep -c -E 'Building (CXX|C) object' "$dir/build.log" || true)
echo "sanitize_build: OK in $(( $(date +%s) - start )) s ($compiled files compiled; full log: $dir/build.log)"
