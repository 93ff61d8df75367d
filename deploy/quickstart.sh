#!/usr/bin/env bash
# The main job: a whole cutover of a Hydra-shaped database on a local sandbox.
#
#   blue    Hydra 1.11 schema + generated data, behind PgBouncer
#   green   empty; copied from blue, migrated to the Hydra 2.x shape
#   clients cutover-loadgen issues, rotates and revokes tokens, consents,
#           login sessions and clients through PgBouncer for the whole run,
#           writing every acknowledged revocation to a ledger
#   cutoverd with the embedded PostgreSQL queue (or the Kafka mock, --queue kafka),
#           driven with cutoverctl: validate, plan, start, watch, approve, report
#   check   cutover-check compares fenced blue and green directly (not through
#           capture or the queue) and checks the ledger
# It ends with a report; the exit status is 0 only with 0 lost revocations,
# 0 false revocations and 0 failed client transactions.
#
#   deploy/quickstart.sh [--scale S] [--queue postgres|kafka] [--rate N] [--keep] [--skip-setup]
#     --scale S      dataset size; 1.0 = 1M access + 1M refresh tokens (~3 GB). Default 0.02.
#     --queue Q      postgres (embedded, durable; default) or kafka (librdkafka's mock
#                    cluster: NOT durable, for demos and tests only)
#     --rate N       client operations per second (default 150)
#     --keep         leave the sandbox and cutoverd running at the end (prints how to stop them)
#     --skip-setup   do not run deploy/setup.sh (packages installed, build/ up to date)
#     --work DIR     working directory (default: a new /tmp/cutover-quickstart-*)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

scale=0.02
queue=postgres
rate=150
keep=0
setup=1
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="${2:?--scale needs a number, e.g. 0.02}"; shift 2 ;;
    --queue) queue="${2:?--queue needs postgres or kafka}"; shift 2 ;;
    --rate) rate="${2:?--rate needs operations per second, e.g. 150}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --skip-setup) setup=0; shift ;;
    --work) work="${2:?--work needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown option '$1' (expected --scale S, --queue postgres|kafka, --rate N, --keep, --skip-setup, --work DIR)" >&2; exit 2 ;;
  esac
done
case "$queue" in postgres|kafka) ;; *) echo "quickstart: --queue '$queue': expected postgres or kafka" >&2; exit 2 ;; esac

if [ "$setup" -eq 1 ]; then "$here/setup.sh"; fi
bin="${CUTOVER_BUILD_DIR:-$root/build}"  # where the tools are (tests point it at their build tree)
for tool in deploy/sandbox/cutover-sandbox deploy/hydra/cutover-datagen deploy/hydra/loadgen/cutover-loadgen \
            orchestrator/tools/cutoverd orchestrator/tools/cutoverctl deploy/hydra/check/cutover-check \
            replay/kafka/cutover-kafka-mock; do
  [ -x "$bin/$tool" ] || { echo "quickstart: $bin/$tool is missing: run deploy/setup.sh (or drop --skip-setup)" >&2; exit 1; }
done
ctl() { "$bin/orchestrator/tools/cutoverctl" --server "127.0.0.1:$(cat "$work/cutoverd.port")" "$@"; }

if [ -z "$work" ]; then work="$(mktemp -d /tmp/cutover-quickstart-XXXXXX)"; else mkdir -p "$work"; fi
chmod 755 "$work"  # the postgres user must reach the sandbox inside
sandbox="$work/sandbox"
pids=()

cleanup() {
  local code=$?
  if [ "$keep" -eq 0 ]; then
    # Our own processes, by pid (never by name).
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$bin/deploy/sandbox/cutover-sandbox" stop --dir "$sandbox" >/dev/null 2>&1 || true
    [ "$code" -eq 0 ] && rm -rf "$work"
    [ "$code" -ne 0 ] && echo "logs kept in $work (cutoverd.log, loadgen.log, ...)" >&2
  else
    echo "left running: cutoverd on 127.0.0.1:$(cat "$work/cutoverd.port" 2>/dev/null) (status page http://127.0.0.1:$(cat "$work/cutoverd.http-port" 2>/dev/null)/) and the sandbox in $sandbox"
    echo "stop them with: kill ${pids[*]}; $bin/deploy/sandbox/cutover-sandbox stop --dir $sandbox"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }
# Waits until a file exists and is not empty (a process's ready/port file).
wait_file() {
  local f="$1" what="$2" pid="$3" i
  for i in $(seq 1 600); do
    [ -s "$f" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "quickstart: $what exited early; see its log in $work" >&2; return 1; }
    sleep 0.1
  done
  echo "quickstart: $what not ready after 60 s; see its log in $work" >&2
  return 1
}

step "Sandbox: blue, green, control PostgreSQL 15 + PgBouncer in front of blue"
"$bin/deploy/sandbox/cutover-sandbox" start --dir "$sandbox" --env-file "$work/env" >/dev/null
# shellcheck disable=SC1091
source "$work/env"
for dsn in "$BLUE_DSN" "$GREEN_DSN"; do psql "$dsn" -qAt -c "CREATE DATABASE hydra" >/dev/null; done
blue="$BLUE_DSN dbname=hydra"
green="$GREEN_DSN dbname=hydra"
control="$CONTROL_DSN"
blue_target="host=127.0.0.1 port=$BLUE_PORT dbname=hydra"
green_target="host=127.0.0.1 port=$GREEN_PORT dbname=hydra"
# Clients reach "hydra" through PgBouncer; the router rewrites this entry at the flip.
sed -i "s|^\[databases\]\$|[databases]\nhydra = $blue_target|" "$BOUNCER_INI"
psql "$BOUNCER_ADMIN_DSN" -qAt -c "RELOAD" >/dev/null
clients="$BOUNCER_DSN dbname=hydra"
echo "blue :$BLUE_PORT  green :$GREEN_PORT  control :$CONTROL_PORT  pgbouncer :$BOUNCER_PORT (database hydra -> blue)"

step "Blue: Hydra 1.11 schema and generated data (scale $scale)"
"$bin/deploy/hydra/cutover-datagen" --dsn "$blue" --scale "$scale" | tail -n 3

queue_json="{\"postgres\": {\"dsn\": \"$control\"}}"
if [ "$queue" = kafka ]; then
  step "Kafka: librdkafka's mock cluster (3 brokers; NOT durable: demos and tests only)"
  "$bin/replay/kafka/cutover-kafka-mock" --brokers 3 --topic cutover-revocations --partitions 6 \
    --ready-file "$work/kafka.ready" >"$work/kafka.log" 2>&1 &
  pids+=($!)
  wait_file "$work/kafka.ready" "cutover-kafka-mock" "${pids[-1]}"
  bootstrap="$(sed -n 's/^BOOTSTRAP=//p' "$work/kafka.ready")"
  queue_json="{\"kafka\": {\"bootstrapServers\": \"$bootstrap\", \"topic\": \"cutover-revocations\", \"partitions\": 6}}"
  echo "bootstrap servers $bootstrap"
fi

step "cutoverd (control database: schema cutover; queue: $queue)"
"$bin/orchestrator/tools/cutoverd" --control-dsn "$control" --listen 127.0.0.1:0 --port-file "$work/cutoverd.port" \
  --http-listen 127.0.0.1:0 --http-port-file "$work/cutoverd.http-port" \
  --insecure-local --identity "quickstart@$(hostname)" >"$work/cutoverd.log" 2>&1 &
pids+=($!)
wait_file "$work/cutoverd.port" "cutoverd" "${pids[-1]}"
wait_file "$work/cutoverd.http-port" "cutoverd (HTTP listener)" "${pids[-1]}"
http_base="http://127.0.0.1:$(cat "$work/cutoverd.http-port")"
echo "listening on 127.0.0.1:$(cat "$work/cutoverd.port") (log: $work/cutoverd.log)"
echo "status page: $http_base/   metrics: $http_base/metrics"

step "Clients: cutover-loadgen through PgBouncer ($rate ops/s; ledger of acknowledged revocations)"
"$bin/deploy/hydra/loadgen/cutover-loadgen" --dsn "$clients" --clients 4 --rate "$rate" --duration 0 \
  --ledger "$work/ledger.jsonl" --stats-file "$work/loadgen.json" --ready-file "$work/loadgen.ready" \
  >"$work/loadgen.out" 2>"$work/loadgen.log" &
loadgen_pid=$!
pids+=("$loadgen_pid")
wait_file "$work/loadgen.ready" "cutover-loadgen" "$loadgen_pid"

cat >"$work/plan.json" <<EOF
{
  "name": "hydra-2x",
  "blue": {"dsn": "$blue"},
  "green": {"dsn": "$green"},
  "copy": {"tableJobs": 2, "indexJobs": 2},
  "capture": {"profile": "hydra"},
  "queue": $queue_json,
  "migration": {"dir": "$root/deploy/hydra/migrations"},
  "router": {"pgbouncer": {"adminDsn": "$BOUNCER_ADMIN_DSN", "configPath": "$BOUNCER_INI", "database": "hydra",
                           "blueTarget": "$blue_target", "greenTarget": "$green_target"}},
  "flip": {"autoFlip": false, "flipTimeout": "30s", "maxBacklog": "200", "approvalDeadline": "1800s",
           "maxBlueTransactionAge": "60s"},
  "expectedWindow": "1800s",
  "tokenTtl": "3600s"
}
EOF

step "cutoverctl lint-migrations deploy/hydra/migrations (lock hazards)"
"$bin/orchestrator/tools/cutoverctl" lint-migrations "$root/deploy/hydra/migrations"

step "cutoverctl validate (preflight: connectivity, privileges, rules, green empty, router, lint)"
ctl validate "$work/plan.json"

step "cutoverctl plan + start"
id="$(ctl --output json plan "$work/plan.json" | jq -r '.id // empty')"
[ -n "$id" ] || { echo "quickstart: no cutover id from cutoverctl plan" >&2; exit 1; }
echo "cutover $id"
ctl start "$id"

step "Window open: capture on blue, copy, indexes, verify, migrate to 2.x, catch up (cutoverctl wait --phase ready)"
ctl wait "$id" --phase ready --timeout 60m
ctl status "$id"

step "cutoverctl approve: pause -> fence blue -> seal -> drain -> repoint to green -> resume"
ctl approve "$id" --reason "quickstart demo"
ctl wait "$id" --phase completed --timeout 10m

step "Clients keep running on green for a moment, then stop"
sleep 3
kill -INT "$loadgen_pid"
wait "$loadgen_pid" || { echo "quickstart: cutover-loadgen failed; see $work/loadgen.log" >&2; exit 1; }
cat "$work/loadgen.out"

step "cutoverctl report"
ctl --output json report "$id" >"$work/report.json"
ctl report "$id" | sed '/^timeline:/,$d'

step "cutover-check: fenced blue vs green, directly (independent of capture and queue), and the ledger"
set +e
"$bin/deploy/hydra/check/cutover-check" --blue "$blue" --green "$green" --ledger "$work/ledger.jsonl" \
  --report "$work/report.json" --output json >"$work/check.json"
check_code=$?
"$bin/deploy/hydra/check/cutover-check" --blue "$blue" --green "$green" --ledger "$work/ledger.jsonl" \
  --report "$work/report.json"
set -e

failed_tx="$(jq -r '.failed // "0" | tonumber' "$work/loadgen.json")"
clients_line="$(jq -r '"committed \(.committed // "0") (1.x \(.committed_by_schema["1.x"] // "0"), 2.x \(.committed_by_schema["2.x"] // "0")), max latency \([.ops[]?.latency.max_ms // 0] | max // 0 | floor) ms, longest gap between commits \(((.longest_write_gap.seconds // 0) * 1000) | floor) ms"' "$work/loadgen.json")"
step "Result"
jq -r --arg id "$id" --arg queue "$queue" --argjson failed "$failed_tx" --arg clients "$clients_line" \
  --slurpfile check "$work/check.json" '
  def d: if . == null then "-" else . end;
  "cutover            \($id) (queue: \($queue)) \(.phase | sub("PHASE_"; ""))",
  "rows copied        \(.copy.rows // 0) in \(.copy.tables // 0) tables, verified: \(.copy.verify.all_match // false)",
  "revocations        captured \(.replay.captured // 0), applied \(.replay.applied // 0), duplicates \(.replay.duplicates // 0), no-ops \(.replay.noops // 0), dead letters \(.replay.dead_letters // 0)",
  "flip               write gap \(.flip.write_gap | d), tail \(.flip.tail_events // 0) event(s)",
  "accepted losses    \([.accepted_losses[]? | (.inserts // 0 | tonumber) + (.updates // 0 | tonumber) + (.deletes // 0 | tonumber)] | add // 0) row write(s) on blue after the snapshot (see report above)",
  "clients            \($clients)",
  "client tx failed   \($failed)",
  "independent check  \($check[0].verdict // "no verdict")"
' "$work/report.json"
# The same for machines: the cutover report, the clients' summary and the check.
jq -n --slurpfile r "$work/report.json" --slurpfile l "$work/loadgen.json" --slurpfile c "$work/check.json" \
  '{report: $r[0], clients: $l[0], check: $c[0]}' >"$work/result.json"
[ "$keep" -eq 1 ] && echo "machine-readable result: $work/result.json"
if [ "$check_code" -ne 0 ] || [ "$failed_tx" != "0" ]; then
  echo "quickstart: FAILED (check exit $check_code, $failed_tx failed client transactions)" >&2
  exit 1
fi
echo "OK: 0 lost revocations, 0 false revocations, 0 failed client transactions"
