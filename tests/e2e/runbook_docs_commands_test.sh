#!/usr/bin/env bash
# The runbooks (docs/runbooks/*.md) and docs/cutoverctl.md quote only
# cutoverctl commands that exist, with flags and phase names that exist:
#   - a command in a code block is run against an address where nothing
#     listens: one that still parses fails with 6 (cannot reach the server)
#     or runs locally (lint-migrations); one that drifted fails with 2 (usage);
#   - a command in inline code (often just a name: `cutoverctl resume`) is
#     checked against `cutoverctl --help` and `cutoverctl SUB --help`: the
#     subcommand and every --flag exist, every --phase value parses.
#
#   runbook_docs_commands_test.sh CUTOVERCTL SOURCE_DIR
set -euo pipefail
ctl="$(realpath "${1:?usage: $0 CUTOVERCTL SOURCE_DIR}")"
src="${2:?usage: $0 CUTOVERCTL SOURCE_DIR}"
[ -x "$ctl" ] || { echo "$0: $ctl is not an executable cutoverctl" >&2; exit 2; }
export ctl
work="$(mktemp -d "${TMPDIR:-/tmp}/runbook-docs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# What the quoted commands refer to: plan files, a migrations directory.
for f in plan.json hydra.json bad.json; do echo '{"name": "docs"}' >"$work/$f"; done
mkdir -p "$work/migrations"
global_help="$("$ctl" --help)"
subcommands="$(sed -n '/^Subcommands:/,/^$/p' <<<"$global_help" | awk 'NR > 1 && NF { print $1 }')"
global_options="$(sed '/^Subcommands:/,$d' <<<"$global_help")"
[ -n "$subcommands" ] || { echo "no subcommands in cutoverctl --help" >&2; exit 1; }

# "F<TAB>line" for each line of a fenced block, "I<TAB>span" for each inline code span.
code_of() {
  awk '/^ *```/ { fenced = !fenced; next }
       fenced { print "F\t" $0; next }
       { while (match($0, /`[^`]+`/)) { print "I\t" substr($0, RSTART + 1, RLENGTH - 2); $0 = substr($0, RSTART + RLENGTH) } }' "$1"
}

# The command itself: up to the first |, ;, &, #, >, ) or \ outside quotes.
command_part() {
  local s="$1" out="" q="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    if [ -n "$q" ]; then [ "$c" != "$q" ] || q=""
    elif [ "$c" = '"' ] || [ "$c" = "'" ]; then q="$c"
    else case "$c" in '|' | ';' | '&' | '#' | '>' | ')' | \\) break ;; esac
    fi
    out+="$c"
  done
  printf '%s' "${out%"${out##*[! ]}"}"
}

# Runs a command from a code block; prints why it drifted, if it did.
run_check() {
  local args="$1" out rc
  args="${args//\/srv\/cutover\/migrations/migrations}"  # placeholders the runbooks use
  args="${args//…/x}"
  set +e
  # shellcheck disable=SC2034  # ID, CHANGE_TICKET are used by the eval'd command
  out="$(cd "$work" && ID=7f3c CHANGE_TICKET=CHG-1 eval "\"\$ctl\" --server 127.0.0.1:1 --timeout 1s $args" 2>&1)"
  rc=$?
  set -e
  # 2 = usage error (the drift this test is for); 126/127 = not run at all.
  # A plan file the docs name but this directory lacks also exits 2, after
  # the command line parsed: not drift.
  if [ "$rc" -eq 2 ] && grep -q "cannot read plan file" <<<"$out"; then return; fi
  if [ "$rc" -eq 2 ] || [ "$rc" -ge 126 ]; then echo "exit $rc: $(head -n 2 <<<"$out" | tr '\n' ' ')"; fi
}

# Checks an inline mention against the help texts; prints why it drifted, if it did.
static_check() {
  local -a words
  local sub="" w i phase=0
  read -r -a words <<<"${1//\"/}"
  for ((i = 0; i < ${#words[@]}; i++)); do
    w="${words[i]}"
    case "$w" in
      -o | --output | --server | --token | --token-file | --tls-ca | --tls-cert | --tls-key | --timeout)
        [ -n "$sub" ] || { i=$((i + 1)); continue; } ;;
    esac
    if [ -z "$sub" ]; then
      case "$w" in -*) echo "unknown global option $w"; return ;; esac
      sub="$w"
      grep -qx -- "$sub" <<<"$subcommands" || { echo "no subcommand '$sub'"; return; }
      continue
    fi
    if [ "$phase" -eq 1 ]; then
      phase=0
      "$ctl" --server 127.0.0.1:1 --timeout 1s wait x --phase "$w" --timeout 1s >/dev/null 2>&1 \
        || [ $? -ne 2 ] || { echo "unknown phase '$w'"; return; }
    fi
    case "$w" in
      --phase) phase=1 ;;
    esac
    case "$w" in
      --*|-o)
        grep -qE -- "^ +(-[a-z],)?${w}([ =,]|$)" <<<"$global_options
$("$ctl" "$sub" --help 2>&1 | sed '/^Exit codes:/,$d')" || echo "no option $w for $sub"
        ;;
    esac
  done
}

checked=0 drifted=0
for doc in "$src"/docs/runbooks/*.md "$src"/docs/cutoverctl.md; do
  while IFS=$'\t' read -r kind text; do
    # A comment line in a code block is prose.
    if [ "$kind" = F ] && [[ "$text" =~ ^[[:space:]]*# ]]; then continue; fi
    while [[ "$text" =~ (^|[\ \$\(])cutoverctl(\ .*)?$ ]]; do
      cmd="cutoverctl${BASH_REMATCH[2]}"
      text="${BASH_REMATCH[2]}"
      cmd="$(command_part "$cmd")"
      args="${cmd#cutoverctl}"
      case "$args" in "" | " [global options]"* | *'"$@"'*) continue ;; esac
      [[ "$args" != :* ]] || continue  # an error message quoted ("cutoverctl: ...")
      if [ "$kind" = F ]; then why="$(run_check "$args")"; else why="$(static_check "$args")"; fi
      checked=$((checked + 1))
      if [ -n "$why" ]; then
        drifted=$((drifted + 1))
        echo "DRIFT ${doc#"$src"/}: cutoverctl$args"
        echo "      $why"
      fi
    done
  done < <(code_of "$doc")
done
echo "$checked quoted cutoverctl commands checked, $drifted drifted"
[ "$checked" -gt 60 ] || { echo "too few commands found: the extraction is broken" >&2; exit 1; }
[ "$drifted" -eq 0 ]
