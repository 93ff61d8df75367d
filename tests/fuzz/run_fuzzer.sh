#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time over its committed corpus: the
# fuzz smoke run of the default suite (docs/fuzzing.md). Fails on any crash,
# leak, UB report, timeout (>10 s for one input) or RSS over 2 GB, and then
# says where the reproducer is and how to replay it.
#   run_fuzzer.sh FUZZER SEED_CORPUS_DIR DICT SECONDS WORK_DIR [MORE_SEED_DIR...]
# MORE_SEED_DIRs are read as seeds too, never written (e.g. the migrations in
# deploy/hydra/migrations, used in place rather than copied into the corpus).
# WORK_DIR/corpus gets the inputs found in this run (emptied first, so every
# run is bounded by SECONDS); WORK_DIR/artifacts the crash reproducers.
set -euo pipefail
fuzzer="${1:?usage: run_fuzzer.sh FUZZER SEED_CORPUS_DIR DICT SECONDS WORK_DIR}"
seeds="${2:?}"
dict="${3:?}"
seconds="${4:?}"
work="${5:?}"
shift 5
more_seeds=("$@")
name="$(basename "$fuzzer")"

[ -x "$fuzzer" ] || { echo "run_fuzzer: $fuzzer is not built (test sanitize_build)" >&2; exit 1; }
[ -d "$seeds" ] || { echo "run_fuzzer: no seed corpus at $seeds" >&2; exit 1; }
rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"
dict_arg=()
[ -f "$dict" ] && dict_arg=("-dict=$dict")
log="$work/fuzz.log"
nseeds=$(find "$seeds" "${more_seeds[@]}" -type f | wc -l)

echo "run_fuzzer: $name for ${seconds}s over $nseeds seed inputs ($seeds)"
set +e
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "${dict_arg[@]}" -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" "${more_seeds[@]}" >"$log" 2>&1
rc=$?
set -e

# libFuzzer's last status line ("#12345 DONE cov: 812 ft: 2301 corp: 340/88Kb ...")
# and its final stats.
last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
seed="$(sed -n 's/^INFO: Seed: *//p' "$log" | head -n 1)"
if [ "$rc" -ne 0 ]; then
  echo "run_fuzzer: $name FAILED (exit $rc, libFuzzer seed $seed); its report follows" >&2
  grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse|INITED)' "$log" | tail -n 120 >&2
  for a in "$work"/artifacts/*; do
    [ -e "$a" ] || continue
    echo "run_fuzzer: reproducer: $a" >&2
    echo "run_fuzzer:   replay:   $fuzzer $a" >&2
  done
  echo "run_fuzzer: keep the reproducer as a regression input: cp it into $seeds/ (docs/fuzzing.md)" >&2
  exit 1
fi
echo "run_fuzzer: $name OK: ${execs:-?} inputs in ${seconds}s (${rate:-?}/s), libFuzzer seed $seed"
echo "run_fuzzer: $last"
echo "run_fuzzer: $(find "$work/corpus" -type f | wc -l) new corpus inputs in $work/corpus (not kept: the next run starts again from the seeds)"
