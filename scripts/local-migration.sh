#!/usr/bin/env bash
# A real live migration between two local servers, until `ferry demo` exists:
# installs redis-server if missing, builds ferry, starts an old master with data and a writer,
# runs `ferry run --to start:PORT` (ferry starts the new server), shows both sides, cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y --no-install-recommends redis-server redis-tools
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

work=$(mktemp -d /tmp/ferry-try-XXXXXX)
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
old=$(free_port); new=$(free_port)
redis-server --port "$old" --bind 127.0.0.1 --dir "$work" --save '' --repl-diskless-sync-delay 0 --daemonize no --logfile "$work/old.log" &
old_pid=$!
writer_pid=""
new_pid=""
cleanup() {
  [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null || true
  kill -9 "$old_pid" 2>/dev/null || true
  # SIGKILL: a SIGTERMed redis-server saves first and refuses to exit when its dir is gone.
  if [ -n "$new_pid" ]; then kill -9 "$new_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
until redis-cli -p "$old" ping >/dev/null 2>&1; do sleep 0.05; done

echo "old master on 127.0.0.1:$old: loading 20000 keys"
seq 1 20000 | awk '{print "SET key:" $1 " value-" $1}' | redis-cli -p "$old" --pipe >/dev/null
# A small application that keeps writing during the migration (it stops at the cutover: this
# one-liner has no repoint hook; see the README for --repoint exec:).
( i=0; while true; do i=$((i+1)); redis-cli -p "$old" SET "live:$i" "$i" >/dev/null 2>&1 || break; sleep 0.01; done ) &
writer_pid=$!

status=0
./bin/ferry run --from "redis://127.0.0.1:$old" --to "start:$new" --data-dir "$work/new" \
  --repoint none --retire replica --yes --state "$work/state.json" || status=$?
new_pid=$(cat "$work/new/redis.pid" 2>/dev/null || true)
[ "$status" = 0 ] || { echo "ferry exited with $status"; exit "$status"; }

echo
echo "new master 127.0.0.1:$new: $(redis-cli -p "$new" dbsize) keys, role $(redis-cli -p "$new" role | head -1)"
echo "old master 127.0.0.1:$old: role $(redis-cli -p "$old" role | head -1) (a replica of the new one: the rollback copy)"
./bin/ferry status --state "$work/state.json"
