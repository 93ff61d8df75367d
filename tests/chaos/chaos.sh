#!/usr/bin/env bash
# Fault-injection harness ("chaos"): N randomized Hydra cutovers on one local
# sandbox, with cutover-loadgen running through PgBouncer for the whole run
# and 1-3 faults per run injected at random points. Each run ends in a safe
# terminal state (the harness acts like an SRE: approve, resume, abort,
# rollback) and is judged by cutover-check and the loadgen's ledger.
# Guarantees, fault model, how runs are judged: docs/reliability.md.
#
#   tests/chaos/chaos.sh [--runs N] [--seed S | --seeds S1,S2,...] [--queue postgres|kafka|mixed]
#                        [--scale X] [--rate N] [--out DIR] [--run-timeout SEC] [--keep-sandbox]
#     --runs N        number of runs (default 10); run i uses seed S+i
#     --seed S        first seed (default: from the clock); replay one run with --seed S --runs 1
#     --seeds LIST    explicit seeds instead (the ctest short run)
#     --queue Q       postgres, kafka (librdkafka mock cluster) or mixed (chosen per run; default)
#     --scale X       Hydra dataset scale for blue (default 0.002)
#     --rate N        loadgen operations per second (default 100)
#     --out DIR       results: runs.jsonl, summary.json, table.txt; DIR/<seed>/ keeps the logs
#                     of a failed run (default: a new /tmp/cutover-chaos-*)
#     --run-timeout S seconds before the SRE gives up waiting and aborts (default 150)
#     --dry-run       print each seed's plan (queue, faults, SRE actions) and exit
#
# Exit status: 0 when every run ended in a safe state with 0 lost and 0 false
# revocations; 1 otherwise; 2 usage error.
# Processes are stopped by pid only. Needs the build tree (CUTOVER_BUILD_DIR,
# default <repo>/build), psql, jq, and root (the sandbox runs servers as postgres).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${CUTOVER_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
bin="${CUTOVER_BUILD_DIR:-$root/build}"

runs=10
seed=""
seeds=""
queue_mode=mixed
scale=0.002
rate=100
out=""
run_timeout=150
keep_sandbox=0
dry_run=0
usage() { sed -n '2,25p' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    --seeds) seeds="${2:?--seeds needs a comma-separated list of numbers}"; shift 2 ;;
    --queue) queue_mode="${2:?--queue needs postgres, kafka or mixed}"; shift 2 ;;
    --scale) scale="${2:?--scale needs a number}"; shift 2 ;;
    --rate) rate="${2:?--rate needs a number}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --run-timeout) run_timeout="${2:?--run-timeout needs seconds}"; shift 2 ;;
    --keep-sandbox) keep_sandbox=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "chaos: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
num() { [[ "$2" =~ ^[0-9]+$ ]] || { echo "chaos: $1 '$2': expected a non-negative integer" >&2; exit 2; }; }
num --runs "$runs"; num --rate "$rate"; num --run-timeout "$run_timeout"
[ -n "$seed" ] && num --seed "$seed"
case "$queue_mode" in postgres|kafka|mixed) ;; *) echo "chaos: --queue '$queue_mode': expected postgres, kafka or mixed" >&2; exit 2 ;; esac
[[ "$scale" =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "chaos: --scale '$scale': expected a number, e.g. 0.002" >&2; exit 2; }
seed_list=()
if [ -n "$seeds" ]; then
  IFS=',' read -r -a seed_list <<<"$seeds"
  for s in "${seed_list[@]}"; do num --seeds "$s"; done
else
  [ -n "$seed" ] || seed=$(( $(date +%s) % 100000 * 100 ))
  for ((i = 0; i < runs; i++)); do seed_list+=($((seed + i))); done
fi
for tool in deploy/sandbox/cutover-sandbox deploy/hydra/cutover-datagen deploy/hydra/loadgen/cutover-loadgen \
            orchestrator/tools/cutoverd orchestrator/tools/cutoverctl deploy/hydra/check/cutover-check \
            replay/kafka/cutover-kafka-mock; do
  [ -x "$bin/$tool" ] || { echo "chaos: $bin/$tool is missing (build it first)" >&2; exit 1; }
done
for t in psql jq; do command -v "$t" >/dev/null || { echo "chaos: $t is missing" >&2; exit 1; }; done

[ -n "$out" ] || out="$(mktemp -d /tmp/cutover-chaos-XXXXXX)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
chmod 755 "$out"
work="$(mktemp -d /tmp/cutover-chaos-work-XXXXXX)"
chmod 755 "$work"
sandbox="$work/sandbox"
: >"$out/runs.jsonl"

SB() { "$bin/deploy/sandbox/cutover-sandbox" --log-level warn "$@"; }
ts() { date -u +%H:%M:%S; }
now_ms() { date +%s%3N; }
log() { echo "[$(ts)] $*" >>"$rdir/harness.log"; }

# ---- processes of the current run, by pid ----------------------------------------
declare -A dpid dgen  # daemon slots A, B (+ api-only daemon "api")
loadgen_pid=0; kafka_pid=0; kafka_fd=""; lock_pid=0
all_pids() { echo "${dpid[A]:-0} ${dpid[B]:-0} ${dpid[api]:-0} $loadgen_pid $kafka_pid $lock_pid"; }
stop_pid() {  # pid [signal]
  local p="$1" sig="${2:-TERM}" i
  [ "$p" -gt 0 ] 2>/dev/null || return 0
  kill -"$sig" "$p" 2>/dev/null || return 0
  for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  return 0
}
cleanup() {
  for p in $(all_pids); do stop_pid "$p"; done
  if [ "$keep_sandbox" -eq 0 ]; then SB stop --dir "$sandbox" >/dev/null 2>&1; rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_file() {  # file pid seconds
  local i
  for i in $(seq 1 $(($3 * 10))); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- the sandbox, shared by all runs ------------------------------------------------
start_sandbox() {
echo "chaos: sandbox in $sandbox; results in $out" >&2
SB start --dir "$sandbox" --env-file "$work/env" --durable >/dev/null 2>"$work/sandbox.start.log" || {
  cat "$work/sandbox.start.log" >&2; echo "chaos: cannot start the sandbox" >&2; exit 1; }
# shellcheck disable=SC1091
source "$work/env"
}

# Every server of the sandbox accepts connections again (after a fault).
sandbox_healthy() {
  local i
  for i in $(seq 1 60); do
    if SB status --dir "$sandbox" >/dev/null 2>&1 &&
       psql "$BLUE_DSN" -qAtc 'select 1' >/dev/null 2>&1 && psql "$GREEN_DSN" -qAtc 'select 1' >/dev/null 2>&1 &&
       psql "$CONTROL_DSN" -qAtc 'select 1' >/dev/null 2>&1 && psql "$BOUNCER_ADMIN_DSN" -qAtc 'SHOW VERSION' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# ---- random numbers from the run's seed (bash's RANDOM, seeded) ----------------------
# roll and pick set $R (not $(...): a subshell would not advance this shell's sequence).
R=0
roll() { R=$((RANDOM % ($2 - $1 + 1) + $1)); }     # roll LO HI (inclusive)
pick() { local a=("$@"); R="${a[$((RANDOM % ${#a[@]}))]}"; }

# ---- cutoverd -------------------------------------------------------------------------
start_daemon() {  # slot [failpoints]
  local slot="$1" fp="${2:-}"
  dgen[$slot]=$(( ${dgen[$slot]:-0} + 1 ))
  local name="chaos-$slot${dgen[$slot]}" extra=()
  [ "$slot" = api ] && extra=(--api-only)
  rm -f "$rdir/cutoverd-$slot.port"
  CUTOVER_FAILPOINTS="$fp" "$bin/orchestrator/tools/cutoverd" --control-dsn "$control" --listen 127.0.0.1:0 \
    --port-file "$rdir/cutoverd-$slot.port" --insecure-local --identity "$name" --lease-ttl 3 "${extra[@]}" \
    >>"$rdir/cutoverd-$slot.log" 2>&1 &
  dpid[$slot]=$!
  log "cutoverd $name started (pid ${dpid[$slot]}${fp:+, CUTOVER_FAILPOINTS=$fp})"
}
daemon_alive() { [ "${dpid[$1]:-0}" -gt 0 ] && kill -0 "${dpid[$1]}" 2>/dev/null; }
ctl() {  # through the api-only daemon, which lives for the whole run
  "$bin/orchestrator/tools/cutoverctl" --server "127.0.0.1:$(cat "$rdir/cutoverd-api.port" 2>/dev/null)" \
    --timeout 10s "$@"
}
ctl_try() {  # an operator call, once (the loop calls it again when still needed)
  if ctl "$@" >>"$rdir/ctl.log" 2>&1; then log "ctl $* ok"; return 0; fi
  log "ctl $* refused/failed: $(tail -1 "$rdir/ctl.log")"
  return 1
}
ctl_retry() {  # an operator call, retried while the control database restarts
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if ctl "$@" >>"$rdir/ctl.log" 2>&1; then log "ctl $* ok"; return 0; fi
    sleep 0.5
  done
  log "ctl $* FAILED"
  return 1
}

# ---- faults -----------------------------------------------------------------------------
ALL_FAULTS=(kill_active kill_standby kill_relay kill_replayer restart_green restart_blue restart_pgbouncer
            restart_control green_lock)
KAFKA_FAULTS=(kafka_down kafka_errors kafka_rtt)
declare -a fault_names=() fault_when=() fault_arg=() fault_done=()

kafka_cmd() { [ -n "$kafka_fd" ] && echo "$1" >&"$kafka_fd" && log "kafka-mock: $1"; }

holder_slot() {  # prints A or B for the lease holder (from the last status), else ""
  local h; h="$(jq -r '.lease_holder // ""' "$rdir/status.json" 2>/dev/null)"
  case "$h" in chaos-A*) echo A ;; chaos-B*) echo B ;; *) echo "" ;; esac
}
declare -A restart_at=()   # slot -> ms when a killed daemon is restarted
# The run's failpoints that no daemon has reached yet: a restarted daemon inherits them,
# so "kill the active daemon at step X" still happens when the first one died earlier.
fp_fired() { grep -q "failpoint ${1%%=*}:" "$rdir"/cutoverd-*.log 2>/dev/null; }
unfired_failpoints() {
  local out="" e
  IFS=',' read -r -a _fps <<<"$fp_A"
  for e in "${_fps[@]}"; do fp_fired "$e" || out="${out:+$out,}$e"; done
  echo "$out"
}
kill_daemon() {
  local slot="$1"
  daemon_alive "$slot" || { log "kill $slot: not running"; return; }
  kill -KILL "${dpid[$slot]}"; wait "${dpid[$slot]}" 2>/dev/null
  log "kill -9 cutoverd $slot (pid ${dpid[$slot]})"
  dpid[$slot]=0
  roll 500 3000; restart_at[$slot]=$(( $(now_ms) + R ))
}
fire_fault() {  # index
  local i="$1" f="${fault_names[$1]}" arg="${fault_arg[$1]}" s
  fault_done[$i]=1
  log "FAULT $f ($arg) in phase $phase"
  case "$f" in
    kill_active) s="$(holder_slot)"; [ -n "$s" ] || s=A; kill_daemon "$s" ;;
    kill_standby) s="$(holder_slot)"; if [ "$s" = B ]; then kill_daemon A; else kill_daemon B; fi ;;
    restart_green|restart_blue|restart_control)
      s="${f#restart_}"
      SB restart --dir "$sandbox" --cluster "$s" $arg >>"$rdir/harness.log" 2>&1 || log "restart $s failed" ;;
    restart_pgbouncer) SB restart --dir "$sandbox" --bouncer >>"$rdir/harness.log" 2>&1 || log "restart pgbouncer failed" ;;
    kafka_down) kafka_cmd "down -1"; pending_kafka_up=$(( $(now_ms) + arg * 1000 )) ;;
    kafka_errors) kafka_cmd "errors $arg" ;;
    kafka_rtt) kafka_cmd "rtt -1 ${arg% *}"; pending_kafka_rtt_off=$(( $(now_ms) + ${arg#* } * 1000 )) ;;
    green_lock)
      # A session on green holds a lock on a captured table while the flip drains into it.
      local table="${arg% *}" secs="${arg#* }"
      psql "$green" -qAt -c "BEGIN; LOCK TABLE $table IN SHARE ROW EXCLUSIVE MODE; SELECT pg_sleep($secs); COMMIT;" \
        >>"$rdir/harness.log" 2>&1 &
      lock_pid=$! ;;
  esac
}

# Order of the forward phases, for triggers "at:PHASE+MS" (fire MS after the cutover is
# first seen in PHASE or a later one; the poll is too coarse to see every short phase).
PHASE_ORDER=(PLANNED CAPTURING COPYING INDEXING VERIFYING_COPY MIGRATING CATCHING_UP READY FLIPPING DRAINING COMPLETED ROLLING_BACK)
ordinal() { local i; for i in "${!PHASE_ORDER[@]}"; do [ "${PHASE_ORDER[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
declare -A reached_at=()   # phase -> ms when it (or a later phase) was first seen
random_point() {  # -> $R = "at:PHASE+MS": a random moment of the run
  pick CAPTURING COPYING MIGRATING CATCHING_UP READY FLIPPING DRAINING COMPLETED
  local p="$R"; roll 0 2500; R="at:$p+$R"
}

# Draws the run's plan from its seed: queue, faults with their trigger and parameters,
# whether the SRE rolls back after COMPLETED or aborts early.
plan_run() {
  RANDOM=$1
  if [ "$queue_mode" = mixed ]; then pick postgres kafka; queue="$R"; else queue="$queue_mode"; fi
  local pool=("${ALL_FAULTS[@]}") n i f
  [ "$queue" = kafka ] && pool+=("${KAFKA_FAULTS[@]}")
  roll 1 3; n=$R
  fault_names=(); fault_when=(); fault_arg=(); fault_done=()
  fp_A=""
  for ((i = 0; i < n; i++)); do
    pick "${pool[@]}"; f="$R"
    case " ${fault_names[*]} " in *" $f "*) continue ;; esac
    local when="" arg=""
    random_point; local t=$R
    case "$f" in
      kill_active)
        roll 0 2
        if [ "$R" -eq 0 ]; then when="$t"
        else
          pick phase.CAPTURING phase.COPYING phase.INDEXING phase.VERIFYING_COPY phase.MIGRATING phase.CATCHING_UP \
               phase.READY flip.pause flip.fence flip.seal flip.drain flip.repoint flip.resume phase.DRAINING
          when="fp"; arg="$R=kill"; fp_A="${fp_A:+$fp_A,}$arg"
        fi ;;
      kill_relay|kill_replayer)
        local name=relay.after_append; [ "$f" = kill_replayer ] && name=replay.before_commit
        pick kill error-once kill; when="fp"; arg="$name=$R"; fp_A="${fp_A:+$fp_A,}$arg" ;;
      kill_standby|restart_control|restart_pgbouncer)
        roll 0 1; if [ "$R" -eq 0 ]; then when="$t"; else roll 0 1500; when="approve+:$R"; fi ;;
      restart_green)
        roll 0 1; if [ "$R" -eq 0 ]; then when="$t"; else roll 0 1500; when="approve+:$R"; fi
        pick "" --immediate; arg="$R" ;;
      restart_blue)
        pick CAPTURING COPYING MIGRATING CATCHING_UP ready; if [ "$R" != ready ]; then local bp="$R"; roll 0 1500; when="at:$bp+$R"; else when="ready"; fi
        pick "" --immediate; arg="$R" ;;
      green_lock)
        pick hydra_oauth2_refresh hydra_oauth2_access hydra_oauth2_flow; local tb="$R"
        roll 1 12; when="approve"; arg="$tb $R" ;;  # taken just before the approve (SRE branch)
      kafka_down) roll 1 5; arg="$R"; when="$t" ;;
      kafka_errors)
        pick produce fetch list_offsets metadata; local api="$R"; roll 3 30; local cnt="$R"
        pick transport timed_out not_leader; arg="$api $cnt $R"; when="$t" ;;
      kafka_rtt) roll 100 900; local ms="$R"; roll 2 8; arg="$ms $R"; when="$t" ;;
    esac
    fault_names+=("$f"); fault_when+=("$when"); fault_arg+=("$arg"); fault_done+=(0)
  done
  roll 0 99; rollback=$(( R < 30 ? 1 : 0 ))
  roll 0 99; early_abort=""
  if [ "$R" -lt 8 ]; then pick COPYING MIGRATING CATCHING_UP READY; early_abort="$R"; fi
}

# ---- one run ------------------------------------------------------------------------
phase=""
run_one() {
  local s="$1"
  rdir="$work/run-$s"; rm -rf "$rdir"; mkdir -p "$rdir"; chmod 755 "$rdir"
  plan_run "$s"
  local faults_desc i
  describe_plan
  echo "seed $s: queue $queue, faults: $faults_desc${early_abort:+, SRE aborts in $early_abort}$([ $rollback -eq 1 ] && echo ', rollback after COMPLETED')"
  log "seed $s queue $queue faults $faults_desc rollback=$rollback early_abort=$early_abort"
  local t_run0; t_run0=$(now_ms)
  sandbox_healthy || { log "sandbox not healthy at start"; }

  # Fresh databases: blue/green h<seed>, control c<seed>; PgBouncer entry h<seed> -> blue.
  local db="h$s" cdb="c$s"
  for dsn in "$BLUE_DSN" "$GREEN_DSN"; do psql "$dsn" -qAt -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null; done
  psql "$CONTROL_DSN" -qAt -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $cdb WITH (FORCE)" -c "CREATE DATABASE $cdb" >/dev/null
  blue="$BLUE_DSN dbname=$db"; green="$GREEN_DSN dbname=$db"; control="$CONTROL_DSN dbname=$cdb"
  local blue_target="host=127.0.0.1 port=$BLUE_PORT dbname=$db" green_target="host=127.0.0.1 port=$GREEN_PORT dbname=$db"
  sed -i "s|^\[databases\]\$|[databases]\n$db = $blue_target|" "$BOUNCER_INI"
  psql "$BOUNCER_ADMIN_DSN" -qAt -c "RELOAD" >/dev/null
  "$bin/deploy/hydra/cutover-datagen" --dsn "$blue" --scale "$scale" >"$rdir/datagen.log" 2>&1 || log "datagen failed"

  local queue_json="{\"postgres\": {\"dsn\": \"$control\"}}"
  kafka_pid=0; kafka_fd=""; pending_kafka_up=0; pending_kafka_rtt_off=0
  if [ "$queue" = kafka ]; then
    mkfifo "$rdir/kafka.ctl"
    exec {kafka_fd}<>"$rdir/kafka.ctl"
    "$bin/replay/kafka/cutover-kafka-mock" --brokers 3 --topic revocations --topic revocations.rollback --partitions 6 --control-stdin \
      --ready-file "$rdir/kafka.ready" <"$rdir/kafka.ctl" >"$rdir/kafka.out" 2>"$rdir/kafka.log" &
    kafka_pid=$!
    wait_file "$rdir/kafka.ready" "$kafka_pid" 30 || log "kafka mock did not start"
    local bootstrap; bootstrap="$(sed -n 's/^BOOTSTRAP=//p' "$rdir/kafka.ready")"
    queue_json="{\"kafka\": {\"bootstrapServers\": \"$bootstrap\", \"topic\": \"revocations\", \"partitions\": 6}}"
  fi

  dpid=(); dgen=(); restart_at=(); reached_at=()
  start_daemon api
  start_daemon A "$fp_A"
  wait_file "$rdir/cutoverd-api.port" "${dpid[api]}" 30 || log "api daemon did not start"
  wait_file "$rdir/cutoverd-A.port" "${dpid[A]}" 30 || log "daemon A did not start"

  "$bin/deploy/hydra/loadgen/cutover-loadgen" --dsn "$BOUNCER_DSN dbname=$db" --clients 4 --rate "$rate" --duration 0 \
    --seed "$s" --ledger "$rdir/ledger.jsonl" --stats-file "$rdir/loadgen.json" --ready-file "$rdir/loadgen.ready" \
    >"$rdir/loadgen.out" 2>"$rdir/loadgen.log" &
  loadgen_pid=$!
  wait_file "$rdir/loadgen.ready" "$loadgen_pid" 30 || log "loadgen did not start"

  cat >"$rdir/plan.json" <<EOF
{
  "name": "chaos-$s",
  "blue": {"dsn": "$blue"},
  "green": {"dsn": "$green"},
  "copy": {"tableJobs": 2, "indexJobs": 2},
  "capture": {"profile": "hydra"},
  "queue": $queue_json,
  "migration": {"dir": "$root/deploy/hydra/migrations"},
  "router": {"pgbouncer": {"adminDsn": "$BOUNCER_ADMIN_DSN", "configPath": "$BOUNCER_INI", "database": "$db",
                           "blueTarget": "$blue_target", "greenTarget": "$green_target"}},
  "flip": {"autoFlip": false, "flipTimeout": "8s", "maxBacklog": "200", "approvalDeadline": "1800s",
           "maxBlueTransactionAge": "30s", "rollbackWindow": "600s"},
  "expectedWindow": "1800s",
  "tokenTtl": "3600s"
}
EOF
  id="$(ctl --output json plan "$rdir/plan.json" 2>>"$rdir/ctl.log" | jq -r '.id // empty')"
  if [ -z "$id" ]; then log "plan failed"; outcome=UNSAFE; reason="cutoverctl plan failed"; finish_run "$s" "$t_run0" "$faults_desc"; return; fi
  ctl_retry start "$id"
  local t0; t0=$(now_ms)
  # The standby starts once A holds the lease, so failpoints set on A hit the active daemon.
  local _try
  for _try in $(seq 1 50); do
    ctl --output json status "$id" >"$rdir/status.json" 2>/dev/null && [ "$(holder_slot)" = A ] && break
    daemon_alive A || break
    sleep 0.1
  done
  start_daemon B

  # The loop: fire due faults, restart killed daemons, act as the SRE.
  phase=""; outcome=""; reason=""
  roll 0 4000; local ready_hold=$R  # the SRE looks at READY for a moment before approving
  local approved_at=0 approvals=0 resumes=0 rolled=0 completed_at=0 abort_sent=0 last_action=0
  local deadline=$(( t0 + run_timeout * 1000 )) hard_deadline=$(( t0 + (run_timeout + 90) * 1000 ))
  while true; do
    local now; now=$(now_ms)
    if ctl --output json status "$id" >"$rdir/status.json.tmp" 2>/dev/null; then
      mv "$rdir/status.json.tmp" "$rdir/status.json"
      local p; p="$(jq -r '.phase // ""' "$rdir/status.json")"; p="${p#PHASE_}"
      [ "$p" != "$phase" ] && log "phase $p"
      phase="$p"
      local o; o=$(ordinal "$phase")
      if [ "$o" -ge 0 ]; then
        for ((k = 0; k <= o; k++)); do [ -n "${reached_at[${PHASE_ORDER[$k]}]:-}" ] || reached_at[${PHASE_ORDER[$k]}]=$now; done
      fi
    fi
    # Daemons that died (kill -9, failpoint kill) come back after a short delay, without failpoints.
    for slot in A B; do
      if [ "${dpid[$slot]:-0}" -gt 0 ] && ! kill -0 "${dpid[$slot]}" 2>/dev/null; then
        wait "${dpid[$slot]}" 2>/dev/null
        log "cutoverd $slot (pid ${dpid[$slot]}) died: $(grep -o 'failpoint [^ ]*: kill -9 self' "$rdir/cutoverd-$slot.log" | tail -1)"
        dpid[$slot]=0; roll 500 3000; restart_at[$slot]=$(( now + R ))
      fi
      if [ "${dpid[$slot]:-0}" -eq 0 ] && [ "${restart_at[$slot]:-0}" -gt 0 ] && [ "$now" -ge "${restart_at[$slot]}" ]; then
        restart_at[$slot]=0; start_daemon "$slot" "$(unfired_failpoints)"
      fi
    done
    if [ "${dpid[api]:-0}" -gt 0 ] && ! kill -0 "${dpid[api]}" 2>/dev/null; then log "api daemon died; restarting"; start_daemon api; sleep 0.5; fi
    [ "$pending_kafka_up" -gt 0 ] && [ "$now" -ge "$pending_kafka_up" ] && { kafka_cmd "up -1"; pending_kafka_up=0; }
    [ "$pending_kafka_rtt_off" -gt 0 ] && [ "$now" -ge "$pending_kafka_rtt_off" ] && { kafka_cmd "rtt -1 0"; pending_kafka_rtt_off=0; }
    # Faults that are due.
    for i in "${!fault_names[@]}"; do
      [ "${fault_done[$i]}" -eq 0 ] || continue
      local w="${fault_when[$i]}"
      case "$w" in
        at:*)
          local wp="${w#at:}"; wp="${wp%+*}"
          if [ -n "${reached_at[$wp]:-}" ] && [ "$now" -ge $(( ${reached_at[$wp]} + ${w##*+} )) ]; then
            if [ "${fault_names[$i]}" = restart_blue ] && [ "$(ordinal "$phase")" -ge "$(ordinal FLIPPING)" ]; then
              fault_done[$i]=2; log "restart_blue skipped: already $phase (past the fence)"
            else
              fire_fault "$i"
            fi
          fi ;;
        ready) [ "$phase" = READY ] && [ "$approved_at" -eq 0 ] && fire_fault "$i" ;;
        approve) ;;  # green_lock: fired by the SRE right before it approves
        approve+:*) [ "$approved_at" -gt 0 ] && [ "$now" -ge $(( approved_at + ${w#approve+:} )) ] && fire_fault "$i" ;;
        fp) fault_done[$i]=1 ;;  # set on daemon A at start
      esac
    done
    # Green lock faults fire on approval, so approve first when one is pending and READY.
    # The SRE.
    case "$phase" in
      COMPLETED)
        [ "$completed_at" -eq 0 ] && completed_at=$now
        local pending_at=0
        for i in "${!fault_names[@]}"; do
          case "${fault_when[$i]}" in at:*|approve+:*) [ "${fault_done[$i]}" -eq 0 ] && pending_at=1 ;; esac
        done
        if [ "$rollback" -eq 0 ]; then
          # Faults due after the flip still fire (for at most 3 s more).
          if [ "$pending_at" -eq 0 ] || [ "$now" -ge $(( completed_at + 3000 )) ]; then outcome=COMPLETED; fi
        elif [ "$now" -ge $(( completed_at + 1500 )) ] && [ "$now" -ge $(( last_action + 5000 )) ]; then
          # The rollback drill; asked again while the cutover stays COMPLETED (a dead lease
          # holder, an undone reverse flip), given up after 6 requests (still a safe state).
          if [ "$rolled" -ge 6 ]; then
            outcome=COMPLETED; drill_failed=1
            reason="rollback drill: still COMPLETED after $rolled requests; last reason: $(jq -r '.reason // ""' "$rdir/status.json")"
          else
            ctl_try rollback "$id" --reason "chaos: rollback drill"; rolled=$((rolled + 1))
            [ "$approved_at" -eq 0 ] && approved_at=$now
            last_action=$(now_ms)
          fi
        fi ;;
      ABORTED) outcome=ABORTED ;;
      ROLLED_BACK) outcome=ROLLED_BACK ;;
      READY)
        if [ -n "$early_abort" ] && [ "$abort_sent" -eq 0 ]; then
          ctl_retry abort "$id" --reason "chaos: SRE aborts in $phase" && abort_sent=1
        elif [ "$now" -ge $(( last_action + 2000 )) ] && [ "$now" -ge $(( ${reached_at[READY]:-$now} + ready_hold )) ]; then
          local pending_ready=0
          for i in "${!fault_names[@]}"; do [ "${fault_when[$i]}" = ready ] && [ "${fault_done[$i]}" -eq 0 ] && pending_ready=1; done
          if [ "$pending_ready" -eq 0 ]; then
            if [ "$approvals" -ge 8 ]; then
              [ "$abort_sent" -eq 0 ] && ctl_retry abort "$id" --reason "chaos: too many undone flips" && abort_sent=1 && reason="SRE abort: $approvals flips undone"
            else
              for i in "${!fault_names[@]}"; do
                if [ "${fault_when[$i]}" = approve ] && [ "${fault_done[$i]}" -eq 0 ]; then fire_fault "$i"; sleep 0.3; fi
              done
              ctl_try approve "$id" --reason "chaos run $s" && { approvals=$((approvals + 1)); [ "$approved_at" -eq 0 ] && approved_at=$(now_ms); }
              last_action=$(now_ms)
            fi
          fi
        fi ;;
      PAUSED|FAILED)
        if [ "$now" -ge $(( last_action + 2000 )) ]; then
          if [ "$resumes" -ge 6 ]; then
            [ "$abort_sent" -eq 0 ] && ctl_retry abort "$id" --reason "chaos: still $phase after $resumes resumes" && abort_sent=1 && reason="SRE abort: still $phase after $resumes resumes ($(jq -r '.reason // ""' "$rdir/status.json"))"
          else
            log "SRE: $phase ($(jq -r '.reason // ""' "$rdir/status.json")); resume"
            ctl_try resume "$id" --reason "chaos: SRE resumes"; resumes=$((resumes + 1))
          fi
          last_action=$(now_ms)
        fi ;;
      *)
        if [ -n "$early_abort" ] && [ "$phase" = "$early_abort" ] && [ "$abort_sent" -eq 0 ]; then
          ctl_retry abort "$id" --reason "chaos: SRE aborts in $phase" && abort_sent=1
        fi ;;
    esac
    [ -n "$outcome" ] && break
    if [ "$now" -ge "$deadline" ] && [ "$abort_sent" -eq 0 ]; then
      log "run timeout in $phase: abort"
      case "$phase" in FLIPPING|DRAINING|ROLLING_BACK) ;; *) ctl_retry abort "$id" --reason "chaos: run timeout" && abort_sent=1 && reason="SRE abort: run timeout in $phase" ;; esac
    fi
    if [ "$now" -ge "$hard_deadline" ]; then outcome=UNSAFE; reason="no terminal state after $((run_timeout + 90))s (phase $phase)"; break; fi
    sleep 0.3
  done
  log "outcome $outcome"
  judge "$s" "$id"
  finish_run "$s" "$t_run0" "$faults_desc"
}

# ---- judging ------------------------------------------------------------------------
# A revocation acknowledged on green but not in effect on blue after a rollback, whose
# token was issued on blue during the window (after the copy snapshot) and so never
# reached green: the revocation changed nothing on green, so nothing carried it back
# (docs/reliability.md "Known gaps"). Counted apart, still a failure: $window_lost.
classify_rollback_losses() {
  local snap line table key
  snap="$(jq -r '[.timeline[]? | select(.to == "PHASE_COPYING") | .at] | last // empty' "$rdir/report.json")"
  [ -n "$snap" ] || return 0
  while read -r table key; do
    case "$table" in hydra_oauth2_access|hydra_oauth2_refresh|hydra_oauth2_code|hydra_oauth2_oidc|hydra_oauth2_pkce) ;; *) continue ;; esac
    line="$(psql "$blue" -qAt -c "SELECT requested_at >= '$snap'::timestamptz AT TIME ZONE 'UTC' FROM $table WHERE signature = '$key'" 2>/dev/null)"
    [ "$line" = t ] || continue
    [ "$(psql "$green" -qAt -c "SELECT count(*) FROM $table WHERE signature = '$key'" 2>/dev/null)" = 0 ] || continue
    window_lost=$((window_lost + 1))
  done < <(jq -r '.ledger.lost_entries[]?.detail | split(" ") | "\(.[0]) \(.[1])"' "$rdir/check.json")
}

judge() {
  local s="$1" id="$2"
  lost=0; false_rev=0; dups=0; gap_ms=0; failed_tx=0; checks=""; window_lost=0
  # Let faults settle: daemons running, sandbox servers up, Kafka up; then stop the clients.
  [ -n "$kafka_fd" ] && { kafka_cmd "up -1"; kafka_cmd "rtt -1 0"; }
  stop_pid "$lock_pid"; lock_pid=0
  sandbox_healthy || { outcome=UNSAFE; reason="${reason:+$reason; }sandbox not healthy after the run"; }
  sleep 1
  stop_pid "$loadgen_pid" INT; loadgen_pid=0
  failed_tx="$(jq -r '.failed // "0" | tonumber' "$rdir/loadgen.json" 2>/dev/null || echo 0)"
  ctl --output json report "$id" >"$rdir/report.json" 2>>"$rdir/ctl.log"
  ctl events "$id" >"$rdir/events.txt" 2>>"$rdir/ctl.log"
  dups="$(jq -r '((.replay.duplicates // "0") | tonumber) + ((.rollback_replay.duplicates // "0") | tonumber)' "$rdir/report.json" 2>/dev/null || echo 0)"
  # Failpoint faults count as injected only when they fired.
  local i
  for i in "${!fault_names[@]}"; do
    if [ "${fault_when[$i]}" = fp ]; then
      if fp_fired "${fault_arg[$i]}"; then fault_done[$i]=1; else fault_done[$i]=0; fi
    fi
  done
  swept="$(jq -r '(.rollback_sweep.revoked // "0") | tonumber' "$rdir/report.json" 2>/dev/null || echo 0)"
  gap_ms="$(jq -r '[.flip.write_gap, .rollback.write_gap] | map(select(. != null) | sub("s$"; "") | tonumber * 1000) | max // 0 | floor' "$rdir/report.json" 2>/dev/null || echo 0)"
  local serving="" check_rc=0
  case "$outcome" in
    COMPLETED) serving=green
      "$bin/deploy/hydra/check/cutover-check" --blue "$blue" --green "$green" --ledger "$rdir/ledger.jsonl" \
        --report "$rdir/report.json" --output json >"$rdir/check.json" 2>"$rdir/check.log"; check_rc=$? ;;
    ABORTED|ROLLED_BACK) serving=blue
      "$bin/deploy/hydra/check/cutover-check" --serving blue --blue "$blue" --green "$green" --max-examples 100000 \
        --ledger "$rdir/ledger.jsonl" --output json >"$rdir/check.json" 2>"$rdir/check.log"; check_rc=$? ;;
  esac
  if [ -n "$serving" ]; then
    if [ "$check_rc" -gt 1 ]; then
      outcome=UNSAFE; reason="${reason:+$reason; }cutover-check exit $check_rc: $(tail -1 "$rdir/check.log")"
    else
      lost="$(jq -r '((.lost // "0") | tonumber) + ((.ledger_lost // "0") | tonumber)' "$rdir/check.json")"
      false_rev="$(jq -r '(.false_revocations // "0") | tonumber' "$rdir/check.json")"
      checks="check: $(jq -r '.verdict' "$rdir/check.json")"
      [ "$outcome" = ROLLED_BACK ] && [ "$lost" -gt 0 ] && classify_rollback_losses
    fi
    # The router points at the serving side and is not paused; the other side is fenced where it should be.
    local want_port=$BLUE_PORT; [ "$serving" = green ] && want_port=$GREEN_PORT
    local row; row="$(psql "$BOUNCER_ADMIN_DSN" -qAt -F ' ' -c 'SHOW DATABASES' 2>/dev/null | awk -v d="h$s" '$1 == d')"
    local port paused; port="$(awk '{print $3}' <<<"$row")"
    paused="$(psql "$BOUNCER_ADMIN_DSN" -qAt -c 'SHOW DATABASES' 2>/dev/null | awk -F'|' -v d="h$s" '$1 == d {print $(NF-1)}')"
    [ "$port" = "$want_port" ] || { outcome=UNSAFE; reason="${reason:+$reason; }router on port '$port', expected $serving ($want_port)"; }
    [ "$paused" = 0 ] || { outcome=UNSAFE; reason="${reason:+$reason; }router paused='$paused'"; }
    local blue_ro green_ro
    blue_ro="$(psql "$blue" -qAt -c 'SHOW default_transaction_read_only' 2>/dev/null)"
    green_ro="$(psql "$green" -qAt -c 'SHOW default_transaction_read_only' 2>/dev/null)"
    case "$outcome" in
      COMPLETED) [ "$blue_ro" = on ] || { outcome=UNSAFE; reason="${reason:+$reason; }blue not fenced after COMPLETED"; }
                 [ "$green_ro" = off ] || { outcome=UNSAFE; reason="${reason:+$reason; }green read-only after COMPLETED"; } ;;
      ABORTED) [ "$blue_ro" = off ] || { outcome=UNSAFE; reason="${reason:+$reason; }blue read-only after ABORTED"; } ;;
      ROLLED_BACK) [ "$blue_ro" = off ] || { outcome=UNSAFE; reason="${reason:+$reason; }blue read-only after ROLLED_BACK"; }
                   [ "$green_ro" = on ] || { outcome=UNSAFE; reason="${reason:+$reason; }green not fenced after ROLLED_BACK"; } ;;
    esac
  fi
}

failures=0
finish_run() {
  local s="$1" t_run0="$2" faults_desc="$3" dur_ms ok=1
  dur_ms=$(( $(now_ms) - t_run0 ))
  for p in "${dpid[A]:-0}" "${dpid[B]:-0}" "${dpid[api]:-0}" "$loadgen_pid" "$kafka_pid" "$lock_pid"; do stop_pid "$p"; done
  dpid=(); loadgen_pid=0; kafka_pid=0; lock_pid=0
  [ -n "$kafka_fd" ] && exec {kafka_fd}>&-
  kafka_fd=""
  [ "$outcome" = UNSAFE ] || [ "$lost" != 0 ] || [ "$false_rev" != 0 ] && ok=0
  local fj="[]" i
  for i in "${!fault_names[@]}"; do
    fj="$(jq -c --arg n "${fault_names[$i]}" --arg w "${fault_when[$i]}" --arg a "${fault_arg[$i]}" \
      --argjson f "${fault_done[$i]}" '. + [{name: $n, when: $w, arg: $a, fired: ($f == 1)}]' <<<"$fj")"
  done
  jq -cn --argjson seed "$s" --arg queue "$queue" --argjson faults "$fj" --arg outcome "$outcome" \
    --argjson lost "${lost:-0}" --argjson window_lost "${window_lost:-0}" --argjson swept "${swept:-0}" --argjson false "${false_rev:-0}" --argjson dups "${dups:-0}" \
    --argjson gap_ms "${gap_ms:-0}" --argjson duration_ms "$dur_ms" --argjson failed_tx "${failed_tx:-0}" \
    --argjson rollback "$rollback" --arg early_abort "$early_abort" --arg reason "$reason" --arg check "$checks" \
    --argjson ok "$ok" \
    '{seed: $seed, queue: $queue, faults: $faults, outcome: $outcome, lost: $lost, lost_window_rows_after_rollback: $window_lost, swept: $swept, false: $false, dups: $dups,
      write_gap_ms: $gap_ms, duration_ms: $duration_ms, client_tx_failed: $failed_tx, rollback_drill: ($rollback == 1),
      sre_abort_in: $early_abort, reason: $reason, check: $check, ok: ($ok == 1)}' >>"$out/runs.jsonl"
  local lost_txt="$lost"; [ "${window_lost:-0}" -gt 0 ] && lost_txt="$lost($window_lost w)"
  local swept_txt=""; [ "$outcome" = ROLLED_BACK ] && swept_txt="  swept ${swept:-0}"
  printf 'seed %-8s %-8s %-11s lost %-3s false %-3s dups %-4s gap %5s ms %4ss  %s%s%s\n' "$s" "$queue" "$outcome" \
    "$lost_txt" "$false_rev" "$dups" "$gap_ms" "$((dur_ms / 1000))" "$faults_desc" "$swept_txt" "${reason:+  ($reason)}"
  # Keep the logs (and the databases) of a failed run; drop them otherwise.
  # (and of an abort the run did not plan: the SRE gave up, worth reading)
  # (and of a rollback drill that never rolled back: safe, but worth reading)
  if [ "$ok" -eq 0 ] || { [ "$outcome" = ABORTED ] && [ -z "$early_abort" ]; } || [ "$drill_failed" -eq 1 ]; then
    [ "$ok" -eq 0 ] && failures=$((failures + 1))
    rm -rf "${out:?}/$s"; cp -a "$rdir" "$out/$s"
    echo "  logs kept in $out/$s; replay with: $0 --seed $s --runs 1 --queue $queue_mode --scale $scale"
  else
    for dsn in "$BLUE_DSN" "$GREEN_DSN"; do psql "$dsn" -qAt -c "DROP DATABASE IF EXISTS h$s WITH (FORCE)" >/dev/null 2>&1; done
    psql "$CONTROL_DSN" -qAt -c "DROP DATABASE IF EXISTS c$s WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$rdir"
  fi
  sed -i "/^h$s = /d" "$BOUNCER_INI"; psql "$BOUNCER_ADMIN_DSN" -qAt -c "RELOAD" >/dev/null 2>&1
}

describe_plan() {
  local i
  faults_desc=""
  for i in "${!fault_names[@]}"; do
    faults_desc+="${faults_desc:+ }${fault_names[$i]}[${fault_when[$i]}${fault_arg[$i]:+ ${fault_arg[$i]}}]"
  done
}
if [ "$dry_run" -eq 1 ]; then
  for s in "${seed_list[@]}"; do
    plan_run "$s"; describe_plan
    echo "seed $s: queue $queue, faults: $faults_desc${early_abort:+, SRE aborts in $early_abort}$([ "$rollback" -eq 1 ] && echo ', rollback after COMPLETED')"
  done
  exit 0
fi
start_sandbox
t_start=$(date +%s)
for s in "${seed_list[@]}"; do
  outcome=""; reason=""; lost=0; window_lost=0; swept=0; drill_failed=0; false_rev=0; dups=0; gap_ms=0; failed_tx=0; checks=""; queue=""; rollback=0; early_abort=""
  # The shell's own notices ("Killed" when a failpoint kills a daemon) go to the run's log.
  run_one "$s" 2>>"$work/shell.log"
done
wall=$(( $(date +%s) - t_start ))

# ---- the table ----------------------------------------------------------------------
jq -s --argjson wall "$wall" --arg commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null)" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg scale "$scale" --arg queue_mode "$queue_mode" '
  {date: $date, commit: $commit, scale: $scale, queue: $queue_mode, runs: length,
   queues: (group_by(.queue) | map({key: .[0].queue, value: length}) | from_entries),
   faults: ([.[].faults[] | select(.fired) | .name] | group_by(.) | map({key: .[0], value: length}) | from_entries),
   faults_not_reached: ([.[].faults[] | select(.fired | not) | .name] | group_by(.) | map({key: .[0], value: length}) | from_entries),
   outcomes: {completed: map(select(.outcome == "COMPLETED")) | length,
              aborted: map(select(.outcome == "ABORTED")) | length,
              rolled_back: map(select(.outcome == "ROLLED_BACK")) | length,
              unsafe: map(select(.outcome == "UNSAFE")) | length},
   rollback_drills: map(select(.rollback_drill)) | length,
   lost: (map(.lost) | add // 0), lost_window_rows_after_rollback: (map(.lost_window_rows_after_rollback) | add // 0),
   swept: (map(.swept // 0) | add // 0), false: (map(.false) | add // 0), duplicates: (map(.dups) | add // 0),
   max_write_gap_ms: (map(.write_gap_ms) | max // 0),
   client_tx_failed: (map(.client_tx_failed) | add // 0),
   failed_seeds: map(select(.ok | not) | .seed), wall_seconds: $wall}' "$out/runs.jsonl" >"$out/summary.json"
jq -r '
  "runs               \(.runs) (postgres \(.queues.postgres // 0), kafka \(.queues.kafka // 0)); scale \(.scale); commit \(.commit); \(.date)",
  "faults injected    \(.faults | to_entries | map("\(.key) \(.value)") | join(", "))",
  "faults not reached \(.faults_not_reached | to_entries | map("\(.key) \(.value)") | join(", ") | if . == "" then "-" else . end) (the run ended or moved past their trigger first)",
  "outcomes           completed \(.outcomes.completed), safely aborted \(.outcomes.aborted), rolled back \(.outcomes.rolled_back), UNSAFE \(.outcomes.unsafe)",
  "lost revocations   \(.lost)\(if .lost_window_rows_after_rollback > 0 then " (\(.lost_window_rows_after_rollback) of them: window-issued tokens revived by a rollback, see Known gaps)" else "" end)",
  "false revocations  \(.false)",
  "rollback sweep     \(.swept) window row(s) green lacked revoked on blue in \(.outcomes.rolled_back) rolled-back run(s)",
  "duplicates         \(.duplicates) (delivered twice, applied once)",
  "max flip write gap \(.max_write_gap_ms) ms",
  "client tx failed   \(.client_tx_failed) (connection errors while servers restart; not judged)",
  "wall time          \(.wall_seconds) s",
  (if (.failed_seeds | length) > 0 then "FAILED seeds       \(.failed_seeds | map(tostring) | join(" "))" else "result             OK: every run safe, 0 lost, 0 false" end)
' "$out/summary.json" | tee "$out/table.txt"
echo "results: $out (runs.jsonl, summary.json, table.txt)" >&2
[ "$failures" -eq 0 ]
