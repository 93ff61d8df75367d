#!/usr/bin/env bash
# Lint of deploy/grafana/cutover-dashboard.json and deploy/prometheus/cutover-alerts.yml
# (CTest dashboards_lint, label unit):
#  - every metric name in a dashboard expression (panel targets, annotations,
#    template variables) and in an alert/recording rule expression is one of
#    tests/dashboards/contract_metrics.txt (or `up`), and is documented in
#    docs/metrics.md;
#  - every panel and target uses the datasource variable (uid "${datasource}"),
#    and the template variables datasource/cutover exist as documented;
#  - panel ids are unique (rows' nested panels included);
#  - every runbook_url of the rules names an existing docs/ file and heading.
# Exit 1 with one line per finding.
set -euo pipefail
src="${CUTOVER_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
dash="$src/deploy/grafana/cutover-dashboard.json"
rules="$src/deploy/prometheus/cutover-alerts.yml"
contract="$src/tests/dashboards/contract_metrics.txt"
metrics_doc="$src/docs/metrics.md"
fail=0
problem() { echo "FAIL: $*"; fail=1; }

jq -e . "$dash" >/dev/null || { echo "FAIL: $dash is not valid JSON"; exit 1; }

# Every expression of the dashboard, one per line (newlines folded).
dash_exprs() {
  jq -r '[.. | objects | select(has("expr")) | .expr] + [.templating.list[] | select(.type == "query") | .definition] | .[] | gsub("\n"; " ")' "$dash"
}
# Every `expr:` of the rule file (block scalars included), one per line,
# PromQL comments removed.
rule_exprs() {
  awk '
    function flush() { if (cur != "") print cur; cur = ""; inexpr = 0 }
    {
      line = $0
      match(line, /^ */); ind = RLENGTH
      if (inexpr) {
        if (line ~ /^ *$/) next
        if (ind > exprind) { sub(/#.*/, "", line); cur = cur " " line; next }
        flush()
      }
      if (line ~ /^ *(- )?expr:/) {
        exprind = ind; inexpr = 1
        sub(/^ *(- )?expr: *\|? */, "", line); sub(/#.*/, "", line); cur = line " "
      }
    }
    END { flush() }' "$rules"
}

allowed=$(grep -v '^#' "$contract" | grep -v '^$' | sort -u)
check_names() {  # $1 = where, stdin = expressions
  local where="$1" exprs names n
  exprs=$(cat)
  # Selectors (name{...}), and bare names: every cutover_* token.
  names=$( { grep -oE '(^|[^a-zA-Z0-9_:$])[a-zA-Z_:][a-zA-Z0-9_:]*[[:space:]]*\{' <<<"$exprs" | sed -E 's/^[^a-zA-Z_:]//; s/[[:space:]]*\{$//';
             grep -oE '(^|[^a-zA-Z0-9_:])cutover_[a-z0-9_]+' <<<"$exprs" | sed -E 's/^[^a-z]//'; } | sort -u || true)
  for n in $names; do
    case "$n" in
      up) continue ;;
      cutover:*) continue ;;  # our recording rules
    esac
    if ! grep -qx "$n" <<<"$allowed"; then
      problem "$where uses metric '$n', not in the contract ($contract)"
    elif [[ -f "$metrics_doc" ]] && ! grep -q "\b$n\b" "$metrics_doc"; then
      problem "$where uses metric '$n', not documented in docs/metrics.md"
    fi
  done
}
tmp_exprs=$(mktemp)
trap 'rm -f "$tmp_exprs"' EXIT

dash_exprs >"$tmp_exprs"
[[ $(wc -l <"$tmp_exprs") -ge 20 ]] || problem "dashboard: only $(wc -l <"$tmp_exprs") expressions found"
check_names "dashboard" <"$tmp_exprs"
rule_exprs >"$tmp_exprs"
[[ $(grep -c . "$tmp_exprs") -ge 20 ]] || problem "rules: only $(grep -c . "$tmp_exprs") expressions found"
check_names "alert rules" <"$tmp_exprs"

# Recording rules used must be defined.
for r in $(grep -oE 'cutover:[a-z0-9_:]+' "$tmp_exprs" | sort -u); do
  grep -qE "record: *$r\$" "$rules" || problem "rules use $r, which no recording rule defines"
done

# Datasource: the variable everywhere.
bad=$(jq -r '[.. | objects | select(has("datasource")) | .datasource
             | select(type == "object" and .uid != "${datasource}" and .uid != "-- Grafana --")] | length' "$dash")
[[ "$bad" == 0 ]] || problem "dashboard: $bad datasource(s) not using uid \${datasource}"
jq -e '[.templating.list[] | select(.name == "datasource" and .type == "datasource" and .query == "prometheus")] | length == 1' "$dash" >/dev/null \
  || problem "dashboard: no datasource variable 'datasource' of type prometheus"
jq -e '[.templating.list[] | select(.name == "cutover" and .definition == "label_values(cutover_phase, cutover)")] | length == 1' "$dash" >/dev/null \
  || problem "dashboard: no 'cutover' variable from label_values(cutover_phase, cutover)"
nodspanels=$(jq -r '[.. | objects | select(has("targets")) | select((.datasource.uid // "") != "${datasource}") | .title] | join(", ")' "$dash")
[[ -z "$nodspanels" ]] || problem "dashboard: panels without the datasource variable: $nodspanels"
notgtds=$(jq -r '[.. | objects | select(has("expr") and has("refId")) | select((.datasource.uid // "") != "${datasource}") | .expr] | join(" | ")' "$dash")
[[ -z "$notgtds" ]] || problem "dashboard: targets without the datasource variable: $notgtds"

# Only known variables.
for v in $(grep -oE '\$\{?[a-zA-Z_]+' "$tmp_exprs" <(dash_exprs) | sed -E 's/.*\$\{?//' | sort -u); do
  case "$v" in cutover|job|datasource|__rate_interval|__interval|__range) ;; *) problem "unknown variable \$$v";; esac
done

# Unique panel ids, every panel has one.
dups=$(jq -r '[.. | objects | select(has("gridPos")) | .id] | group_by(.) | map(select(length > 1) | .[0]) | map(tostring) | join(",")' "$dash")
[[ -z "$dups" ]] || problem "dashboard: duplicate panel ids: $dups"
noid=$(jq -r '[.. | objects | select(has("gridPos")) | select(.id == null)] | length' "$dash")
[[ "$noid" == 0 ]] || problem "dashboard: $noid panel(s) without id"
# No two panels overlap (Grafana would shuffle them).
overlaps=$(jq -r '[.. | objects | select(has("gridPos")) | .gridPos] as $g
  | [range(0; $g|length) as $i | range($i+1; $g|length) as $j | select(
      $g[$i].x < $g[$j].x + $g[$j].w and $g[$j].x < $g[$i].x + $g[$i].w and
      $g[$i].y < $g[$j].y + $g[$j].h and $g[$j].y < $g[$i].y + $g[$i].h) | "\($i)/\($j)"] | join(",")' "$dash")
[[ -z "$overlaps" ]] || problem "dashboard: overlapping panels (indexes): $overlaps"

# runbook_url → an existing file (and heading, for #anchors) under docs/.
slug() { tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'; }
n_urls=0
while read -r url; do
  n_urls=$((n_urls + 1))
  path=${url#*/cutover/}; anchor=""
  [[ "$path" == *"#"* ]] && { anchor=${path#*#}; path=${path%%#*}; }
  if [[ "$path" != docs/runbooks/* || ! -f "$src/$path" ]]; then
    problem "runbook_url $url: $path is not a file under docs/runbooks/"
  elif [[ -n "$anchor" ]] && ! grep -E '^#+ ' "$src/$path" | sed -E 's/^#+ //' | slug | grep -qx "$anchor"; then
    problem "runbook_url $url: no heading #$anchor in $path"
  fi
done < <(grep -oE 'runbook_url: *"[^"]+"' "$rules" | sed -E 's/runbook_url: *"//; s/"$//')
alerts=$(grep -cE '^ *- alert:' "$rules")
[[ "$n_urls" == "$alerts" ]] || problem "rules: $alerts alerts but $n_urls runbook_url annotations"
for a in $(grep -oE '^ *- alert: *[A-Za-z]+' "$rules" | awk '{print $3}'); do
  grep -q "alertname: $a\$" "$src"/deploy/prometheus/tests/*.yml || problem "alert $a has no promtool unit test"
done

if [[ "$fail" == 0 ]]; then
  echo "OK: $(dash_exprs | wc -l) dashboard expressions, $(grep -c . "$tmp_exprs") rule expressions, $alerts alerts with runbooks"
fi
exit "$fail"
