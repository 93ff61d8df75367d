#!/usr/bin/env bash
# Automated runbook: one planned cutover, end to end and unattended, for an
# automation system (Rundeck, Ansible, Argo, a CI job). It drives only the
# public CLI `cutoverctl` and `jq`; every step is logged with a UTC timestamp
# and what it checked. Guide: docs/runbooks/automated.md.
#
#   cutover.sh --server HOST:PORT[,HOST:PORT...] --plan plan.json [options]
#   cutover.sh --server HOST:PORT --resume ID|auto [--plan plan.json] [options]
#
# Steps: lint migrations -> validate (preflight) -> plan + start -> wait READY
# (progress lines) -> guardrails at READY -> approve -> wait COMPLETED -> report
# -> verify the flip (succeeded, write gap) -> optional --check-cmd (rollback on
# failure with --rollback-on-check-failure while the window is open).
# Any failure before the flip aborts the cutover (blue keeps serving) and
# confirms ABORTED + `cleaned-up`, unless --on-failure hold.
#
# Exit codes (stable; the last stdout line is always
#   RESULT exit=<n> status=<word> cutover=<id|-> phase=<PHASE|->):
#    0  ok: COMPLETED and verified (status completed); READY with --no-approve
#       (status ready); --dry-run checks passed (status dry-run)
#    2  usage: bad flag or value, unreadable plan file, cutoverctl/jq missing
#    3  refused before start: lint error, validation/preflight failed, plan
#       rejected, --not-after already passed, another active cutover of this
#       plan name; nothing is left running (a PLANNED cutover is aborted)
#    4  a guardrail refused the flip at READY: aborted (blue serving) or held
#       in READY with --on-failure hold
#    5  failed before the flip (FAILED before FLIPPING, or ABORTED by someone
#       else / approval deadline): aborted cleanly, blue serving (or held)
#    6  the flip failed and was undone: blue serving, cutover held in READY
#       for a human (fix the cause, then approve or abort)
#    7  unauthenticated / permission denied (token, certificate or role)
#    8  timeout: READY not reached in --ready-timeout (aborted, blue serving,
#       or held), or COMPLETED not reached in --complete-timeout (untouched)
#    9  post-flip check failed and the cutover was rolled back (blue serving)
#   10  needs a human: state unknown or unsafe (daemon unreachable, abort or
#       rollback failed, FAILED at/after the flip, unexpected script error)
#   11  post-flip verification or check failed, NOT rolled back (traffic on
#       green: no --rollback-on-check-failure, or no open rollback window)
#  130/143  interrupted by SIGINT/SIGTERM: a running approve/abort/... RPC
#       finishes first, nothing starts after it; the cutover's phase is read
#       back and printed (continue with --resume ID)
set -Eeuo pipefail

readonly EX_OK=0 EX_USAGE=2 EX_REFUSED=3 EX_GUARDRAIL=4 EX_FAILED=5 EX_FLIP_UNDONE=6 EX_AUTH=7 \
  EX_TIMEOUT=8 EX_ROLLED_BACK=9 EX_HUMAN=10 EX_CHECK_FAILED=11
me="cutover.sh"

usage() {
  cat <<'EOF'
usage: cutover.sh --plan FILE [options]          a new cutover
       cutover.sh --resume ID|auto [options]     continue one (after the automation itself died)

connection (cutoverctl options; env CUTOVER_SERVER, CUTOVER_TOKEN, CUTOVER_TOKEN_FILE,
            CUTOVER_TLS_CA, CUTOVER_TLS_CERT, CUTOVER_TLS_KEY)
  --server H:P[,H:P]      cutoverd address(es); the next one is tried while one is unreachable
  --token-file F  --tls-ca F  --tls-cert F  --tls-key F
  --cutoverctl PATH       the cutoverctl binary (default: from PATH)
  --rpc-timeout D         deadline of each RPC (default 30s)
  --unreachable-grace D   keep retrying an unreachable daemon this long, then exit 10 (default 30s)
what
  --plan FILE             plan JSON (cutover.v1.Plan)
  --resume ID|auto        continue cutover ID from its phase; auto: the one active cutover
                          named like --plan's name, or a new one if there is none
  --migrations DIR        lint these migrations (default: the plan's migration.dir if readable here)
  --lint-allow R[,R2]     --pg-version N          passed to cutoverctl lint-migrations
  --reason TEXT           recorded with approve/abort/rollback (e.g. the change ticket)
timing
  --ready-timeout D       wait this long for READY (default 6h)
  --complete-timeout D    wait this long for COMPLETED after approve (default 30m)
  --not-after TIME        no flip after TIME (RFC 3339, or HH:MM today in the runner's TZ)
  --guardrail-timeout D   at READY, re-check failing guardrails this long (default 2m)
  --progress-interval D   a progress line this often while waiting for READY (default 30s)
guardrails at READY (besides the daemon's own flip blockers)
  --max-backlog N  --max-oldest-event-age D  --max-dead-letters N (default 0)
  --pre-flip-cmd CMD      must exit 0 before the flip (e.g. an error-rate or change-freeze gate)
after the flip
  --max-write-gap D       the flip's write gap must not exceed D (default 2s)
  --check-cmd CMD         must exit 0 after COMPLETED (e.g. cutover-check ...)
  --check-timeout D       (default 30m)
  --rollback-on-check-failure   roll back when the check fails and the rollback window is open
  --rollback-timeout D    (default 10m)
behaviour
  --approve | --no-approve   approve at READY (default) or stop there with exit 0
  --on-failure abort|hold    before the flip: abort (default, blue keeps serving) or leave it
  --report FILE           write the JSON report (cutoverctl report + this script's verdict)
  --log FILE              append the log here too (it always goes to stderr)
  --dry-run               lint + validate + show what would be done; change nothing
Commands get env CUTOVER_ID, CUTOVER_SERVER and CUTOVER_REPORT (a JSON file of the status/report).
Exit codes: see the header of this script or docs/runbooks/automated.md.
EOF
}

# ---------------------------------------------------------------- arguments
server_list="${CUTOVER_SERVER:-127.0.0.1:7400}"
token_file="${CUTOVER_TOKEN_FILE:-}"
tls_ca="${CUTOVER_TLS_CA:-}"
tls_cert="${CUTOVER_TLS_CERT:-}"
tls_key="${CUTOVER_TLS_KEY:-}"
cutoverctl="" rpc_timeout="30s" grace="30s"
plan="" resume="" migrations="" lint_allow="" pg_version="" reason=""
ready_timeout="6h" complete_timeout="30m" not_after="" guardrail_timeout="2m" progress_interval="30s"
max_backlog="" max_age="" max_dead="0" pre_flip_cmd=""
max_write_gap="2s" check_cmd="" check_timeout="30m" rollback_on_check=0 rollback_timeout="10m"
approve=1 on_failure="abort" report_file="" log_file="" dry_run=0
# The durations in milliseconds (to_ms, below).
ready_ms="" complete_ms="" guard_ms="" progress_ms="" grace_ms="" gap_ms="" check_ms="" rollback_ms="" age_ms=""

bad_usage() { echo "$me: $*" >&2; echo "RESULT exit=$EX_USAGE status=usage cutover=- phase=-"; exit "$EX_USAGE"; }
need() { if [ $# -lt 2 ] || [ -z "$2" ]; then bad_usage "$1 needs a value (see --help)"; fi; }
while [ $# -gt 0 ]; do
  case "$1" in
    --server|--token-file|--tls-ca|--tls-cert|--tls-key|--cutoverctl|--rpc-timeout|--unreachable-grace|\
    --plan|--resume|--migrations|--lint-allow|--pg-version|--reason|--ready-timeout|--complete-timeout|\
    --not-after|--guardrail-timeout|--progress-interval|--max-backlog|--max-oldest-event-age|\
    --max-dead-letters|--pre-flip-cmd|--max-write-gap|--check-cmd|--check-timeout|--rollback-timeout|\
    --on-failure|--report|--log)
      need "$@"
      case "$1" in
        --server) server_list="$2" ;; --token-file) token_file="$2" ;; --tls-ca) tls_ca="$2" ;;
        --tls-cert) tls_cert="$2" ;; --tls-key) tls_key="$2" ;; --cutoverctl) cutoverctl="$2" ;;
        --rpc-timeout) rpc_timeout="$2" ;; --unreachable-grace) grace="$2" ;; --plan) plan="$2" ;;
        --resume) resume="$2" ;; --migrations) migrations="$2" ;; --lint-allow) lint_allow="$2" ;;
        --pg-version) pg_version="$2" ;; --reason) reason="$2" ;; --ready-timeout) ready_timeout="$2" ;;
        --complete-timeout) complete_timeout="$2" ;; --not-after) not_after="$2" ;;
        --guardrail-timeout) guardrail_timeout="$2" ;; --progress-interval) progress_interval="$2" ;;
        --max-backlog) max_backlog="$2" ;; --max-oldest-event-age) max_age="$2" ;;
        --max-dead-letters) max_dead="$2" ;; --pre-flip-cmd) pre_flip_cmd="$2" ;;
        --max-write-gap) max_write_gap="$2" ;; --check-cmd) check_cmd="$2" ;;
        --check-timeout) check_timeout="$2" ;; --rollback-timeout) rollback_timeout="$2" ;;
        --on-failure) on_failure="$2" ;; --report) report_file="$2" ;; --log) log_file="$2" ;;
      esac
      shift 2 ;;
    --approve) approve=1; shift ;;
    --no-approve) approve=0; shift ;;
    --rollback-on-check-failure) rollback_on_check=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown option '$1' (see --help)" ;;
  esac
done

# Duration text ("500ms", "30s", "2m", "6h", or seconds) -> milliseconds.
dur_ms() {
  [[ "$1" =~ ^([0-9]+(\.[0-9]+)?)(ms|s|m|h)?$ ]] || return 1
  awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
    m = (u == "ms") ? 1 : (u == "m") ? 60000 : (u == "h") ? 3600000 : 1000; printf "%d\n", n * m }'
}
# to_ms VAR FLAG VALUE: VAR = milliseconds (VAR "" = only check), or a usage
# error naming the flag. Not called inside $(...): bad_usage must print its
# RESULT line on this shell's stdout.
to_ms() {
  local ms
  ms="$(dur_ms "$3")" || bad_usage "$2 '$3': expected a duration like 500ms, 30s, 2m, 6h (or seconds)"
  [ -z "$1" ] || printf -v "$1" '%s' "$ms"
}
nonneg_int() { [[ "$2" =~ ^[0-9]+$ ]] || bad_usage "$1 '$2': expected a whole number >= 0"; }

[ -n "$plan" ] || [ -n "$resume" ] || bad_usage "--plan FILE or --resume ID|auto is required (see --help)"
[ "$resume" != auto ] || [ -n "$plan" ] || bad_usage "--resume auto needs --plan (the cutover is found by the plan's name)"
if [ -n "$plan" ]; then
  [ -r "$plan" ] || bad_usage "--plan '$plan': not a readable file"
  plan_name="$(jq -er '.name // empty' "$plan" 2>/dev/null)" \
    || bad_usage "--plan '$plan': not JSON with a \"name\" (expected the protobuf JSON of cutover.v1.Plan)"
  plan_dir_field="$(jq -r '.migration.dir // empty' "$plan")"
  plan_auto_flip="$(jq -r '.flip.autoFlip // .flip.auto_flip // false' "$plan")"
fi
case "$on_failure" in abort|hold) ;; *) bad_usage "--on-failure '$on_failure': expected abort or hold" ;; esac
to_ms ready_ms --ready-timeout "$ready_timeout"
to_ms complete_ms --complete-timeout "$complete_timeout"
to_ms guard_ms --guardrail-timeout "$guardrail_timeout"
to_ms progress_ms --progress-interval "$progress_interval"
to_ms grace_ms --unreachable-grace "$grace"
to_ms gap_ms --max-write-gap "$max_write_gap"
to_ms check_ms --check-timeout "$check_timeout"
to_ms rollback_ms --rollback-timeout "$rollback_timeout"
to_ms "" --rpc-timeout "$rpc_timeout"
[ -z "$max_age" ] || to_ms age_ms --max-oldest-event-age "$max_age"
[ -z "$max_backlog" ] || nonneg_int --max-backlog "$max_backlog"
nonneg_int --max-dead-letters "$max_dead"
[ -z "$pg_version" ] || nonneg_int --pg-version "$pg_version"
[ "$progress_ms" -ge 1000 ] || bad_usage "--progress-interval '$progress_interval': at least 1s"
not_after_epoch=""
if [ -n "$not_after" ]; then
  not_after_epoch="$(date -d "$not_after" +%s 2>/dev/null)" \
    || bad_usage "--not-after '$not_after': expected RFC 3339 (2026-05-02T22:00:00Z) or HH:MM"
fi
if [ -n "$migrations" ] && [ ! -d "$migrations" ]; then bad_usage "--migrations '$migrations': not a directory"; fi
for f in "$token_file" "$tls_ca" "$tls_cert" "$tls_key"; do
  [ -z "$f" ] || [ -r "$f" ] || bad_usage "'$f' (token/TLS file): not readable"
done
if [ -z "$cutoverctl" ]; then cutoverctl="$(command -v cutoverctl || true)"; fi
if [ -z "$cutoverctl" ] || [ ! -x "$cutoverctl" ]; then
  bad_usage "cutoverctl not found (put it on PATH or pass --cutoverctl PATH)"
fi
command -v jq >/dev/null || bad_usage "jq not found (apt-get install jq)"
IFS=',' read -r -a servers <<<"$server_list"
[ ${#servers[@]} -gt 0 ] || bad_usage "--server: expected HOST:PORT[,HOST:PORT...]"
[ -n "$reason" ] || reason="$me on $(hostname)"

conn=(--timeout "$rpc_timeout")
[ -z "$token_file" ] || conn+=(--token-file "$token_file")
[ -z "$tls_ca" ] || conn+=(--tls-ca "$tls_ca")
[ -z "$tls_cert" ] || conn+=(--tls-cert "$tls_cert")
[ -z "$tls_key" ] || conn+=(--tls-key "$tls_key")

# ---------------------------------------------------------------- state, log, result
tmp="$(mktemp -d "${TMPDIR:-/tmp}/cutover-runbook.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/steps.jsonl"
srv=0             # index into servers
id=""             # the cutover
phase="-"         # its last known phase
status_json="{}"  # its last `status` JSON
step="arguments"  # what the script is doing (for interruptions)
child=""          # a background cutoverctl wait, killed on a signal
finishing=0
approve_seq=0     # the timeline's last seq before our approve
approved_here=0   # this run approved the flip
check_failed=""   # the post-flip --check-cmd failed
SEQ=0 ROWS="" GFAILS=""
started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

now() { date +%s; }
now_ms() { date +%s%3N; }
log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [$1] ${*:2}"
  printf '%s\n' "$line" >&2
  if [ -n "$log_file" ]; then printf '%s\n' "$line" >>"$log_file"; fi
}
# record STEP ok|fail|info DETAIL: a log line and a row of the report's verdict.steps.
record() {
  log "$1" "$2: $3"
  jq -nc --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg step "$1" --arg result "$2" --arg detail "$3" \
    '{at: $at, step: $step, result: $result, detail: $detail}' >>"$tmp/steps.jsonl"
}

# One cutoverctl call: OUT (stdout), ERR (stderr), RC. Never fails the script.
ctl_once() {
  RC=0
  OUT="$("$cutoverctl" --server "${servers[$srv]}" "${conn[@]}" "$@" 2>"$tmp/ctl.err")" || RC=$?
  ERR="$(tr '\n' ' ' <"$tmp/ctl.err")"
}
# A mutating call (plan, start, approve, abort, rollback), in its own session:
# a SIGINT/SIGTERM sent to the job's process group does not cut the RPC off,
# and the script's trap runs once it has returned (bounded by --rpc-timeout),
# so the action is never left half-done.
ctl_act() {
  RC=0
  OUT="$(setsid "$cutoverctl" --server "${servers[$srv]}" "${conn[@]}" "$@" 2>"$tmp/ctl.err")" || RC=$?
  ERR="$(tr '\n' ' ' <"$tmp/ctl.err")"
}
# A read-only call, retried (rotating through --server) while the daemon is
# unreachable (exit 6), for --unreachable-grace. Mutating calls use ctl_act:
# whether an unanswered approve/abort was applied is read back, not guessed.
ctl_ro() {
  local deadline=$(($(now_ms) + grace_ms))
  while :; do
    ctl_once "$@"
    [ "$RC" -eq 6 ] || return 0
    [ "$(now_ms)" -lt "$deadline" ] || return 0
    log unreachable "${servers[$srv]}: $ERR(retrying)"
    srv=$(((srv + 1) % ${#servers[@]}))
    sleep 1
  done
}
# `cutoverctl wait` in the background, so that a signal is handled at once.
ctl_wait() {
  RC=0
  "$cutoverctl" --server "${servers[$srv]}" "${conn[@]}" wait "$@" >"$tmp/wait.out" 2>"$tmp/wait.err" &
  child=$!
  wait "$child" || RC=$?
  child=""
  OUT="$(cat "$tmp/wait.out")"
  ERR="$(tr '\n' ' ' <"$tmp/wait.err")"
}

# finish CODE STATUS MESSAGE: the only way out after argument parsing.
finish() {
  local code="$1" word="$2" msg="$3"
  if [ "$finishing" -eq 1 ]; then exit "$code"; fi
  finishing=1
  trap - INT TERM ERR
  if [ -n "$id" ]; then
    ctl_once -o json status "$id"
    if [ "$RC" -eq 0 ]; then status_json="$OUT"; phase="$(jq -r .phase <<<"$OUT")"; fi
  fi
  log result "exit $code ($word): $msg"
  if [ -n "$report_file" ]; then
    echo null >"$tmp/report.json"
    if [ -n "$id" ]; then
      ctl_once -o json report "$id"
      if [ "$RC" -eq 0 ]; then printf '%s\n' "$OUT" >"$tmp/report.json"; fi
    fi
    # Files, not --argjson: one argument is limited to 128 kB, a report may be larger.
    if ! jq -n --argjson code "$code" --arg word "$word" --arg msg "$msg" --arg id "$id" --arg phase "$phase" \
        --arg started "$started_at" --arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        --slurpfile report "$tmp/report.json" --slurpfile steps "$tmp/steps.jsonl" \
        '{verdict: {exit: $code, status: $word, message: $msg, cutover: $id, phase: $phase,
                    started_at: $started, finished_at: $finished, steps: $steps}, report: $report[0]}' \
        >"$report_file"; then
      log result "could not write --report $report_file"
    fi
  fi
  printf 'RESULT exit=%s status=%s cutover=%s phase=%s\n' "$code" "$word" "${id:--}" "${phase:--}"
  exit "$code"
}

# What the on-call needs to know about the cutover right now (one line).
describe() {
  if [ -z "$id" ]; then echo "no cutover was created"; return; fi
  if [ "$phase" = PHASE_READY ] && [ "$(jq -r .approved <<<"$status_json")" = true ]; then
    echo "cutover $id is READY and approved: the daemon flips it by itself (traffic still on blue)"; return
  fi
  case "$phase" in
    PHASE_PLANNED|PHASE_CAPTURING|PHASE_COPYING|PHASE_INDEXING|PHASE_VERIFYING_COPY|PHASE_MIGRATING|PHASE_CATCHING_UP|PHASE_READY|PHASE_PAUSED)
      echo "cutover $id is in $phase: traffic on blue; the daemon keeps driving it (abort with: cutoverctl abort $id)" ;;
    PHASE_FLIPPING|PHASE_DRAINING)
      echo "cutover $id is in $phase: the flip was approved and the daemon finishes it by itself" ;;
    PHASE_COMPLETED) echo "cutover $id is COMPLETED: traffic on green" ;;
    PHASE_ABORTED) echo "cutover $id is ABORTED: traffic on blue" ;;
    PHASE_ROLLING_BACK|PHASE_ROLLED_BACK) echo "cutover $id is in $phase: traffic goes back to blue" ;;
    PHASE_FAILED) echo "cutover $id is FAILED in $(jq -r .failed_phase <<<"$status_json"): $(jq -r '.reason + "; next: " + .next_step' <<<"$status_json")" ;;
    *) echo "cutover $id: phase unknown (last seen $phase)" ;;
  esac
}

on_signal() {
  local name="$1" code="$2"
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; child=""; fi
  if [ -n "$id" ]; then ctl_once -o json status "$id"; if [ "$RC" -eq 0 ]; then status_json="$OUT"; phase="$(jq -r .phase <<<"$OUT")"; fi; fi
  finish "$code" interrupted "interrupted by $name during '$step' (no action started after it; the state below is read back); $(describe)${id:+; continue with: $me --resume $id ...}"
}
trap 'on_signal SIGINT 130' INT
trap 'on_signal SIGTERM 143' TERM
# An unexpected failure: exit 10 from the main shell. Inside $(...) the
# subshell only fails, and the main shell's own ERR trap reports it once.
on_err() {
  if [ "$BASHPID" != "$$" ]; then exit 1; fi
  finish "$EX_HUMAN" needs-human "unexpected error at line $1 of $me (during $step); $(describe)"
}
trap 'on_err $LINENO' ERR

# After a read: exit 7 on auth errors, exit 10 when the daemon stayed unreachable.
read_ok() {
  if [ "$RC" -eq 7 ]; then finish "$EX_AUTH" auth "$1: $ERR"; fi
  if [ "$RC" -eq 6 ]; then
    local last="no cutover was created"
    [ -z "$id" ] || last="cutover $id was last seen in $phase (cutoverd drives it, not this script: if no daemon runs, start one and it adopts the cutover)"
    finish "$EX_HUMAN" unreachable "$1: no cutoverd answered for $grace (${server_list}): $ERR; $last; then re-run with --resume ${id:-ID} (docs/runbooks/standby-takeover.md)"
  fi
}
refresh() {
  ctl_ro -o json status "$id"
  read_ok "status $id"
  [ "$RC" -eq 0 ] || finish "$EX_HUMAN" needs-human "status $id failed: $ERR"
  status_json="$OUT"
  phase="$(jq -r .phase <<<"$OUT")"
}
# SEQ: the highest seq of the timeline. (Globals, not $(...): finish must run in this shell.)
last_seq() {
  ctl_ro -o json events "$id"
  read_ok "events $id"
  SEQ="$(jq -r '[.transitions[]?.seq | tonumber] | max // 0' <<<"$OUT")"
}
# ROWS: the timeline rows after seq $1 whose action matches the regex $2 ("seq action reason" lines).
rows_after() {
  ctl_ro -o json events "$id"
  read_ok "events $id"
  ROWS="$(jq -r --argjson after "$1" --arg re "$2" \
    '.transitions[]? | select((.seq | tonumber) > $after and (.action | test($re))) | "\(.seq) \(.action) \(.reason)"' <<<"$OUT")"
}
progress() {
  jq -r '"\(.phase | sub("PHASE_"; "")) copy \(if ((.copy.bytes_estimated // "0") | tonumber) > 0
           then "\(((.copy.bytes_copied | tonumber) * 100 / (.copy.bytes_estimated | tonumber)) | floor)%" else "-" end)" +
         " rows \(.copy.rows_copied // "0") backlog \(.replay.backlog // "0") (oldest \(.replay.oldest_event_age // "0s"))" +
         " dead letters \(.replay.dead_letters // "0")" +
         (if .phase == "PHASE_PAUSED" then " (PAUSED by an operator; it continues after cutoverctl resume)" else "" end)' <<<"$status_json"
}
# Runs a --pre-flip-cmd / --check-cmd with the cutover in its environment.
run_cmd() {
  local what="$1" cmd="$2" limit_ms="$3" rc=0
  printf '%s\n' "$status_json" >"$tmp/status.json"
  echo null >"$tmp/report.json"
  ctl_once -o json report "$id"
  if [ "$RC" -eq 0 ]; then printf '%s\n' "$OUT" >"$tmp/report.json"; fi
  jq -n --slurpfile s "$tmp/status.json" --slurpfile r "$tmp/report.json" '{status: $s[0], report: $r[0]}' \
    >"$tmp/state.json" 2>/dev/null || echo '{}' >"$tmp/state.json"
  CUTOVER_ID="$id" CUTOVER_SERVER="${servers[$srv]}" CUTOVER_REPORT="$tmp/state.json" \
    timeout "$((limit_ms / 1000 + 1))" bash -c "$cmd" >"$tmp/cmd.out" 2>&1 || rc=$?
  while IFS= read -r l; do log "$what" "| $l"; done < <(tail -n 20 "$tmp/cmd.out")
  return "$rc"
}

# ---------------------------------------------------------------- actions
# abort_and_confirm WHY: abort, wait ABORTED and the `cleaned-up` row. 0 = blue serving confirmed.
abort_and_confirm() {
  local seq
  step="abort"
  last_seq
  seq="$SEQ"
  ctl_act abort "$id" --reason "$me: $1"
  if [ "$RC" -ne 0 ]; then
    refresh
    if [ "$phase" != PHASE_ABORTED ]; then record abort fail "cutoverctl abort exit $RC: $ERR"; return 1; fi
  fi
  ctl_wait "$id" --phase aborted --timeout 2m
  if [ "$RC" -ne 0 ]; then refresh; record abort fail "not ABORTED: $(describe)"; return 1; fi
  local deadline=$(($(now) + 60))
  while rows_after "$seq" '^cleaned-up$' && [ -z "$ROWS" ]; do
    refresh
    if [ "$phase" != PHASE_ABORTED ] || [ "$(now)" -ge "$deadline" ]; then
      record abort fail "ABORTED but no cleaned-up row: $(describe)"; return 1
    fi
    sleep 1
  done
  record abort ok "ABORTED, capture removed from blue, no fence: blue keeps serving"
}

# stop_before_flip CODE WORD WHY: the failure policy before the flip.
stop_before_flip() {
  local code="$1" word="$2" why="$3"
  refresh
  if [ "$on_failure" = hold ]; then
    finish "$code" "$word-held" "$why; --on-failure hold: left as is; $(describe)"
  fi
  if [ "$phase" = PHASE_ABORTED ]; then finish "$code" "$word-aborted" "$why; $(describe)"; fi
  log abort "$why: aborting so that blue keeps serving"
  if abort_and_confirm "$why"; then
    finish "$code" "$word-aborted" "$why; aborted: traffic on blue, green kept for inspection (recreate it before a new plan)"
  fi
  finish "$EX_HUMAN" needs-human "$why; and the abort did not complete: $(describe) (docs/runbooks/abort.md)"
}

lint_and_validate() {
  step="lint"
  local dir="$migrations"
  if [ -z "$dir" ] && [ -n "${plan_dir_field:-}" ]; then
    if [ -d "$plan_dir_field" ]; then dir="$plan_dir_field"
    else record lint info "the plan's migration.dir '$plan_dir_field' is not readable here: skipped (validate lints it on the daemon)"; fi
  fi
  if [ -n "$dir" ]; then
    local args=(lint-migrations "$dir")
    [ -z "$lint_allow" ] || args+=(--allow "$lint_allow")
    [ -z "$pg_version" ] || args+=(--pg-version "$pg_version")
    ctl_once "${args[@]}"
    while IFS= read -r l; do [ -z "$l" ] || log lint "| $l"; done <<<"$OUT"
    if [ "$RC" -ne 0 ]; then
      record lint fail "cutoverctl lint-migrations $dir exit $RC ${ERR}"
      finish "$EX_REFUSED" refused "migrations in $dir are not safe to run online (lock hazards above; docs/migrations.md)"
    fi
    record lint ok "$(tail -n 1 <<<"$OUT")"
  elif [ -z "${plan_dir_field:-}" ]; then
    record lint info "no migrations (no --migrations, no migration.dir in the plan)"
  fi
  step="validate"
  ctl_ro -o json validate "$plan"
  read_ok "validate $plan"
  case "$RC" in
    0|3)
      jq -r '.checks[]? | "\(if .ok then "ok  " else "FAIL" end) \(.name) \(.detail)"' <<<"$OUT" | while IFS= read -r l; do log validate "| $l"; done
      jq -r '.warnings[]? | "warn \(.code): \(.message)"' <<<"$OUT" | while IFS= read -r l; do log validate "| $l"; done ;;
  esac
  if [ "$RC" -ne 0 ]; then
    local failed=""
    if [ "$RC" -eq 3 ]; then failed="$(jq -r '[.checks[]? | select(.ok | not) | .name] | join(", ")' <<<"$OUT")"; fi
    record validate fail "cutoverctl validate exit $RC: ${failed:-$ERR}"
    finish "$EX_REFUSED" refused "preflight refused the plan ${failed:+(failed: $failed)}${ERR:+ $ERR}; nothing was created"
  fi
  record validate ok "every preflight check passed ($(jq -r '.checks | length' <<<"$OUT") checks, $(jq -r '.warnings | length' <<<"$OUT") warnings)"
}

check_window() {  # 0 while the flip is still allowed by --not-after
  [ -z "$not_after_epoch" ] || [ "$(now)" -lt "$not_after_epoch" ]
}

create_and_start() {
  step="plan"
  if ! check_window; then
    record window fail "--not-after $not_after has passed"
    finish "$EX_REFUSED" refused "--not-after $not_after has already passed: not starting; nothing was created"
  fi
  ctl_act -o json plan "$plan"
  read_ok "plan $plan"
  if [ "$RC" -ne 0 ]; then
    record plan fail "cutoverctl plan exit $RC: $ERR"
    finish "$EX_REFUSED" refused "the daemon refused the plan: $ERR"
  fi
  id="$(jq -r '.id // empty' <<<"$OUT")"
  [ -n "$id" ] || finish "$EX_HUMAN" needs-human "cutoverctl plan printed no id: $OUT"
  phase="$(jq -r .phase <<<"$OUT")"
  record plan ok "created cutover $id ($plan_name), $phase"
  start_planned
}
start_planned() {
  step="start"
  ctl_act start "$id"
  if [ "$RC" -eq 7 ]; then finish "$EX_AUTH" auth "start $id: $ERR"; fi
  refresh
  if [ "$phase" = PHASE_PLANNED ]; then
    record start fail "cutoverctl start exit $RC: $ERR"
    local why="start refused: ${ERR:-still PLANNED}"
    if [ "$RC" -eq 6 ]; then finish "$EX_HUMAN" unreachable "$why; $(describe)"; fi
    if abort_and_confirm "$why"; then
      finish "$EX_REFUSED" refused "$why; the PLANNED cutover was aborted (nothing ran)"
    fi
    finish "$EX_REFUSED" refused "$why; $(describe)"
  fi
  record start ok "started: $phase"
}

wait_ready() {
  step="wait for READY"
  local deadline=$((ready_start_ms + ready_ms)) left chunk
  log ready "waiting for READY (timeout $ready_timeout${not_after:+, not after $not_after}): $(progress)"
  while :; do
    left=$((deadline - $(now_ms)))
    if [ -n "$not_after_epoch" ] && ! check_window; then
      record window fail "--not-after $not_after passed before READY"
      stop_before_flip "$EX_GUARDRAIL" guardrail "the change window (--not-after $not_after) closed before READY"
    fi
    if [ "$left" -le 0 ]; then
      record ready fail "not READY after $ready_timeout: $(progress)"
      stop_before_flip "$EX_TIMEOUT" timeout "READY not reached within --ready-timeout $ready_timeout"
    fi
    chunk=$((left < progress_ms ? left : progress_ms))
    if [ -n "$not_after_epoch" ]; then
      local w=$(((not_after_epoch - $(now)) * 1000 + 500))
      if [ "$w" -lt "$chunk" ]; then chunk="$w"; fi
    fi
    ctl_wait "$id" --phase ready,flipping,draining,completed --timeout "$((chunk > 1000 ? chunk : 1000))ms"
    case "$RC" in
      0|5) refresh; return 0 ;;  # READY or beyond, or FAILED/terminal: the dispatcher decides
      4) refresh; log ready "$(progress)" ;;
      6) refresh ;;  # retried for --unreachable-grace, then exit 10
      7) finish "$EX_AUTH" auth "wait $id: $ERR" ;;
      *) refresh; log ready "cutoverctl wait exit $RC: $ERR" ; sleep 1 ;;
    esac
  done
}

# 0 when every guardrail holds; otherwise GFAILS lists the failures. Sets window_closed.
guardrails() {
  local fails=() v
  window_closed=0
  GFAILS=""
  if ! check_window; then window_closed=1; fails+=("window: --not-after $not_after has passed"); fi
  v="$(jq -r '.flip_blockers | join("; ")' <<<"$status_json")"
  [ -z "$v" ] || fails+=("daemon flip blockers: $v")
  v="$(jq -r '.replay.backlog // "0" | tonumber' <<<"$status_json")"
  if [ -n "$max_backlog" ] && [ "$v" -gt "$max_backlog" ]; then fails+=("backlog $v > --max-backlog $max_backlog"); fi
  if [ -n "$age_ms" ]; then
    v="$(jq -r '.replay.oldest_event_age // "0s" | rtrimstr("s") | tonumber * 1000 | floor' <<<"$status_json")"
    [ "$v" -le "$age_ms" ] || fails+=("oldest event age ${v}ms > --max-oldest-event-age $max_age")
  fi
  v="$(jq -r '.replay.dead_letters // "0" | tonumber' <<<"$status_json")"
  [ "$v" -le "$max_dead" ] || fails+=("$v dead letter(s) > --max-dead-letters $max_dead (docs/runbooks/dead-letters.md)")
  if [ -n "$pre_flip_cmd" ] && [ "$window_closed" -eq 0 ] && [ ${#fails[@]} -eq 0 ]; then
    local rc=0
    run_cmd pre-flip "$pre_flip_cmd" 300000 || rc=$?
    [ "$rc" -eq 0 ] || fails+=("--pre-flip-cmd exit $rc")
  fi
  [ ${#fails[@]} -gt 0 ] || return 0
  GFAILS="$(printf '%s; ' "${fails[@]}")"
  GFAILS="${GFAILS%; }"
  return 1
}

at_ready() {
  step="guardrails at READY"
  local why
  [ -z "$(jq -r .reason <<<"$status_json")" ] || log ready "READY: $(jq -r .reason <<<"$status_json")"
  if [ "$approve" -eq 0 ]; then
    record ready ok "READY; --no-approve: stopping here ($(progress))"
    finish "$EX_OK" ready "READY and left there (--no-approve): approve with cutoverctl approve $id, or re-run with --resume $id"
  fi
  local deadline=$(($(now_ms) + guard_ms))
  while :; do
    if guardrails; then break; fi
    why="$GFAILS"
    record guardrails fail "$why"
    if [ "$window_closed" -eq 1 ] || [ "$(now_ms)" -ge "$deadline" ]; then
      stop_before_flip "$EX_GUARDRAIL" guardrail "guardrails refused the flip at READY: $why"
    fi
    sleep 5
    refresh
    [ "$phase" = PHASE_READY ] || return 0
  done
  record guardrails ok "window open${not_after:+ until $not_after}, no flip blockers, $(progress)"
  step="approve"
  last_seq
  approve_seq="$SEQ"
  ctl_act approve "$id" --reason "$reason"
  case "$RC" in
    0) ;;
    7) finish "$EX_AUTH" auth "approve $id (needs role approver): $ERR; $(describe)" ;;
    1) record approve fail "$ERR"; stop_before_flip "$EX_GUARDRAIL" guardrail "the daemon refused the approval: $ERR" ;;
    *) refresh
       if [ "$phase" = PHASE_READY ] && [ "$(jq -r .approved <<<"$status_json")" != true ]; then
         finish "$EX_HUMAN" needs-human "approve $id exit $RC ($ERR) and not approved: $(describe)"
       fi ;;
  esac
  approved_here=1
  record approve ok "approved (reason: $reason)"
  wait_completed
}

wait_completed() {
  step="wait for COMPLETED"
  local deadline=$(($(now_ms) + complete_ms)) rows
  log flip "waiting for COMPLETED (timeout $complete_timeout)"
  while :; do
    refresh
    case "$phase" in
      PHASE_COMPLETED|PHASE_FAILED|PHASE_ABORTED|PHASE_ROLLING_BACK|PHASE_ROLLED_BACK) return 0 ;;
      PHASE_READY)
        if [ "${approved_here:-0}" -eq 1 ]; then
          rows_after "$approve_seq" '^(flip-failed|approve-refused|flip-refused)$'
          rows="$ROWS"
          case "$rows" in
            *flip-failed*) record flip fail "$rows"
              finish "$EX_FLIP_UNDONE" flip-undone "the flip failed and was undone: traffic on blue, cutover held in READY ($(jq -r .reason <<<"$status_json")); fix the cause, then cutoverctl approve $id (or abort)" ;;
            ?*) record approve fail "$rows"
              stop_before_flip "$EX_GUARDRAIL" guardrail "the daemon refused the approval: $rows" ;;
          esac
        fi ;;
    esac
    if [ "$(now_ms)" -ge "$deadline" ]; then
      finish "$EX_TIMEOUT" timeout "not COMPLETED within --complete-timeout $complete_timeout; not touched: $(describe)"
    fi
    ctl_wait "$id" --phase completed --timeout 2s
    if [ "$RC" -eq 7 ]; then finish "$EX_AUTH" auth "wait $id: $ERR"; fi
  done
}

post_flip() {
  step="verify the flip"
  local fails=() rep gap
  ctl_ro -o json report "$id"
  read_ok "report $id"
  [ "$RC" -eq 0 ] || finish "$EX_HUMAN" needs-human "report $id failed: $ERR; $(describe)"
  rep="$OUT"
  gap="$(jq -r '.flip.write_gap // "0s" | rtrimstr("s") | tonumber * 1000 | floor' <<<"$rep")"
  log report "$(jq -r '"flip: succeeded \(.flip.succeeded), write gap \(.flip.write_gap), \(.flip.tail_events) tail event(s), \(.flip.attempts) attempt(s); replay: applied \(.replay.applied), dead letters \(.replay.dead_letters)"' <<<"$rep")"
  if [ "$(jq -r .flip.succeeded <<<"$rep")" != true ]; then fails+=("the report's flip did not succeed: $(jq -r .flip.failure_reason <<<"$rep")"); fi
  if [ "$gap" -gt "$gap_ms" ]; then fails+=("write gap ${gap}ms > --max-write-gap $max_write_gap"); fi
  if [ ${#fails[@]} -eq 0 ]; then record verify ok "flip succeeded, write gap ${gap}ms <= $max_write_gap"
  else record verify fail "${fails[*]}"; fi
  if [ -n "$check_cmd" ]; then
    step="check"
    local rc=0
    run_cmd check "$check_cmd" "$check_ms" || rc=$?
    if [ "$rc" -eq 0 ]; then record check ok "--check-cmd passed"
    elif [ "$rc" -eq 124 ]; then record check fail "--check-cmd timed out after $check_timeout"; check_failed=1
    else record check fail "--check-cmd exit $rc"; check_failed=1; fi
  fi
  if [ -z "$check_failed" ] && [ ${#fails[@]} -eq 0 ]; then
    finish "$EX_OK" completed "COMPLETED: traffic on green, flip verified (write gap ${gap}ms)${check_cmd:+, --check-cmd passed}"
  fi
  local why="${fails[*]}${check_failed:+${fails[*]:+; }--check-cmd failed}"
  # A write gap over budget cannot be undone by a rollback: only a failed check rolls back.
  if [ -n "$check_failed" ] && [ "$rollback_on_check" -eq 1 ]; then
    refresh
    local ends open
    ends="$(jq -r '.rollback_window_ends_at // empty' <<<"$status_json")"
    open="$(jq -r '.reverse_capture_installed' <<<"$status_json")"
    if [ "$open" = true ] && [ -n "$ends" ] && [ "$(now)" -lt "$(date -d "$ends" +%s)" ]; then
      step="rollback"
      log rollback "$why: rolling back (window open until $ends)"
      ctl_act rollback "$id" --reason "$me: $why"
      if [ "$RC" -eq 7 ]; then finish "$EX_AUTH" auth "rollback $id: $ERR; $(describe)"; fi
      ctl_wait "$id" --phase rolled_back --timeout "$((rollback_ms))ms"
      refresh
      if [ "$phase" = PHASE_ROLLED_BACK ]; then
        record rollback ok "ROLLED_BACK: traffic on blue, green fenced"
        finish "$EX_ROLLED_BACK" rolled-back "$why; rolled back: traffic on blue again (docs/runbooks/rollback.md)"
      fi
      record rollback fail "not ROLLED_BACK: $(describe) $ERR"
      finish "$EX_HUMAN" needs-human "$why; the rollback did not complete: $(describe) (docs/runbooks/rollback.md)"
    fi
    record rollback fail "no open rollback window (plan flip.rollbackWindow; ends ${ends:-never set})"
  fi
  finish "$EX_CHECK_FAILED" check-failed "COMPLETED but $why; traffic stays on green: decide (docs/runbooks/rollback.md)"
}

# ---------------------------------------------------------------- main
dry_note=""; [ "$dry_run" -eq 0 ] || dry_note=", DRY RUN"
log start "$me: server ${server_list}${plan:+, plan $plan ($plan_name)}${resume:+, resume $resume}, approve=$approve, on-failure=$on_failure$dry_note"
if [ "${plan_auto_flip:-false}" = true ]; then
  log start "warning: the plan has flip.autoFlip: the daemon flips by itself at READY, so this script's READY guardrails and --no-approve do not apply"
fi

step="find the cutover"
if [ "$resume" = auto ]; then
  ctl_ro -o json status
  read_ok "status (list)"
  [ "$RC" -eq 0 ] || finish "$EX_HUMAN" needs-human "cutoverctl status (list) exit $RC: $ERR"
  mapfile -t active < <(jq -r --arg n "$plan_name" '.cutovers[]? | select(.plan.name == $n and
      (.phase | IN("PHASE_COMPLETED", "PHASE_ABORTED", "PHASE_ROLLED_BACK") | not)) | .id' <<<"$OUT")
  if [ ${#active[@]} -gt 1 ]; then finish "$EX_REFUSED" refused "--resume auto: ${#active[@]} active cutovers named $plan_name (${active[*]}): pass --resume ID"; fi
  if [ ${#active[@]} -eq 1 ]; then resume="${active[0]}"; log resume "--resume auto: found active cutover $resume ($plan_name)"
  else resume=""; log resume "--resume auto: no active cutover named $plan_name: starting a new one"; fi
elif [ -z "$resume" ]; then
  ctl_ro -o json status
  read_ok "status (list)"
  [ "$RC" -eq 0 ] || finish "$EX_HUMAN" needs-human "cutoverctl status (list) exit $RC: $ERR"
  other="$(jq -r --arg n "$plan_name" '[.cutovers[]? | select(.plan.name == $n and
      (.phase | IN("PHASE_COMPLETED", "PHASE_ABORTED", "PHASE_ROLLED_BACK") | not)) | "\(.id) (\(.phase))"] | join(", ")' <<<"$OUT")"
  if [ -n "$other" ]; then
    record plan fail "active cutover(s) named $plan_name: $other"
    finish "$EX_REFUSED" refused "a cutover named $plan_name is already active: $other; continue it with --resume ID (or --resume auto), or abort it"
  fi
fi

if [ -n "$resume" ]; then
  id="$resume"
  ctl_ro -o json status "$id"
  read_ok "status $id"
  if [ "$RC" -ne 0 ]; then id=""; finish "$EX_USAGE" usage "--resume $resume: $ERR"; fi
  status_json="$OUT"; phase="$(jq -r .phase <<<"$OUT")"
  if [ -n "$plan" ] && [ "$(jq -r .plan.name <<<"$status_json")" != "$plan_name" ]; then
    finish "$EX_USAGE" usage "--resume $id is cutover '$(jq -r .plan.name <<<"$status_json")', not the plan's '$plan_name'"
  fi
  record resume info "continuing cutover $id from $phase"
else
  lint_and_validate
fi

if [ "$dry_run" -eq 1 ]; then
  what="plan + start, wait READY (timeout $ready_timeout)"
  [ -z "$id" ] || what="continue $id from $phase"
  finish "$EX_OK" dry-run "dry run: would $what, check guardrails at READY${not_after:+ (not after $not_after)}, $([ "$approve" -eq 1 ] && echo "approve, wait COMPLETED (timeout $complete_timeout), verify the write gap <= $max_write_gap${check_cmd:+, run --check-cmd}" || echo "stop at READY"); nothing was changed"
fi

[ -n "$id" ] || create_and_start
ready_start_ms="$(now_ms)"
# The dispatcher: act on the phase the cutover is in, until an outcome.
while :; do
  case "$phase" in
    PHASE_PLANNED) start_planned ;;
    PHASE_CAPTURING|PHASE_COPYING|PHASE_INDEXING|PHASE_VERIFYING_COPY|PHASE_MIGRATING|PHASE_CATCHING_UP|PHASE_PAUSED)
      wait_ready ;;
    PHASE_READY)
      if [ "$approved_here" -eq 1 ]; then wait_completed; else at_ready; fi ;;
    PHASE_FLIPPING|PHASE_DRAINING) wait_completed ;;
    PHASE_COMPLETED) post_flip ;;
    PHASE_FAILED)
      failed_phase="$(jq -r .failed_phase <<<"$status_json")"
      case "$failed_phase" in
        PHASE_PLANNED|PHASE_CAPTURING|PHASE_COPYING|PHASE_INDEXING|PHASE_VERIFYING_COPY|PHASE_MIGRATING|PHASE_CATCHING_UP|PHASE_READY)
          record failed fail "FAILED in $failed_phase: $(jq -r .reason <<<"$status_json")"
          stop_before_flip "$EX_FAILED" failed "FAILED in $failed_phase before the flip: $(jq -r .reason <<<"$status_json")" ;;
        *) record failed fail "FAILED in $failed_phase: $(jq -r .reason <<<"$status_json")"
          finish "$EX_HUMAN" needs-human "$(describe) (at or after the flip: docs/runbooks/stuck-flip.md, dead-letters.md)" ;;
      esac ;;
    PHASE_ABORTED) finish "$EX_FAILED" aborted "$(describe) ($(jq -r .reason <<<"$status_json"))" ;;
    PHASE_ROLLING_BACK)
      step="wait for ROLLED_BACK"
      ctl_wait "$id" --phase rolled_back --timeout "$((rollback_ms))ms"
      refresh
      [ "$phase" = PHASE_ROLLED_BACK ] || finish "$EX_HUMAN" needs-human "rolling back did not finish: $(describe)" ;;
    PHASE_ROLLED_BACK) finish "$EX_ROLLED_BACK" rolled-back "$(describe)" ;;
    *) finish "$EX_HUMAN" needs-human "unexpected phase $phase" ;;
  esac
done
