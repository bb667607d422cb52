#!/usr/bin/env bash
# Runs test files N times in a row and stops at the first failing run:
#   bash scripts/loop-tests.sh 20 test/engine/sync-link.test.ts
#   bash scripts/loop-tests.sh 10 test/engine/sync-crash.test.ts test/resume.test.ts
# Each file is looped on its own; a run that takes longer than LOOP_RUN_TIMEOUT seconds (default
# 300) counts as a failure (a hang), so the loop itself always ends. Builds once first.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:?usage: loop-tests.sh N FILE...}"; shift
[ "$#" -gt 0 ] || { echo "usage: loop-tests.sh N FILE..." >&2; exit 2; }
npm run build >/dev/null
status=0
for file in "$@"; do
  times=()
  for i in $(seq "$n"); do
    t0=$(date +%s%N)
    if ! timeout --kill-after=10 "${LOOP_RUN_TIMEOUT:-300}" npx vitest run --config test/vitest.config.ts "$file" >"/tmp/loop-tests.$$.log" 2>&1; then
      echo "$file: run $i of $n FAILED (log below)"; tail -60 "/tmp/loop-tests.$$.log"; status=1; break
    fi
    times+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
  done
  if [ "${#times[@]}" = "$n" ]; then
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    echo "$file: $n of $n runs passed; wall ms min $(echo "$sorted" | head -1) median $(echo "$sorted" | sed -n "$(( (n + 1) / 2 ))p") max $(echo "$sorted" | tail -1)"
  fi
done
rm -f "/tmp/loop-tests.$$.log"
exit "$status"
