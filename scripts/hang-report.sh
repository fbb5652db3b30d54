#!/bin/sh
# scripts/run-tests.sh's watchdog: PARENT TEE LIMIT LOG SCRATCH. run-tests.sh (PARENT) kills it when its command
# ends. If that takes LIMIT seconds, it prints what a hang needs for its diagnosis (the test process's thread stacks,
# the processes the tests still run, the tests that started and never ended, from LOG), stops the command (PARENT's
# child other than itself and TEE) and the test process, and leaves SCRATCH.hung.
set -u
parent=$1 tee=$2 limit=$3 log=$4 scratch=$5
waited=0
while [ "$waited" -lt "$limit" ]; do
  sleep 5 </dev/null >/dev/null 2>&1
  waited=$((waited + 5))
done
exec 1>&2
echo
echo "run-tests.sh: still running after $limit s (CHANGEGATE_TEST_TIME_LIMIT): a test hangs. What it left:"
# The swift-testing process (swift test runs it as a child); its blocked threads say on what.
tests=$(pgrep -f 'PackageTests.xctest' | head -1)
if [ -n "$tests" ]; then
  if command -v lldb >/dev/null 2>&1; then
    lldb --batch -p "$tests" -o 'thread backtrace all -c 14' 2>&1 | grep -E '^[* ] +(thread|frame) #' | cut -c1-220
  elif command -v gdb >/dev/null 2>&1; then
    gdb -p "$tests" -batch -ex 'thread apply all bt 14' 2>&1 | grep -E '^(Thread|#)' | cut -c1-220
  fi
fi
echo "processes the tests started that still run:"
ps -eo pid,ppid,pgid,etimes,stat,args | awk -v dir="$scratch/" 'NR == 1 || index($0, dir) || /postgres|changegate|snowsim|nspawn/' \
  | grep -v -e ' awk ' -e hang-report | cut -c1-220
# "◇ Test NAME started." without its "✔/✘ Test NAME passed/failed/skipped" (colour codes removed first).
echo "tests that started and did not end:"
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
  /Test .* started\.$/ { n = $0; sub(/.*Test /, "", n); sub(/ started\.$/, "", n); open[n]++ }
  /Test .* (passed|failed|skipped)/ { n = $0; sub(/.*Test /, "", n); sub(/ (passed|failed|skipped).*/, "", n); open[n]-- }
  END { for (n in open) if (open[n] > 0) print "  " n }'
: > "$scratch.hung"
command=$(pgrep -P "$parent" | grep -v -x -e "$$" -e "$tee")
kill -TERM $command ${tests:+"$tests"} 2>/dev/null
sleep 10
kill -KILL $command ${tests:+"$tests"} 2>/dev/null
