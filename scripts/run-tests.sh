#!/bin/sh
# Runs a test command (`make test` runs `swift test` and the reliability suite through it) with TMPDIR set to a
# fresh folder, then fails if the tests left files there or processes that use it: every test must remove what it
# creates and stop what it starts, also when it fails (issue 9). The command's own exit status is kept otherwise.
# A command still running after CHANGEGATE_TEST_TIME_LIMIT seconds (default 1200; the whole suite takes a few minutes)
# is hung, not slow: its threads' stacks, the processes it left running and the tests that started but never ended
# are printed, and it is stopped, so that a hang fails with its cause instead of running into CI's limit.
#   scripts/run-tests.sh swift test --skip-build
set -u
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGUMENT...]" >&2; exit 2; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cg-tests-XXXXXXXX") || exit 2
limit=${CHANGEGATE_TEST_TIME_LIMIT:-1200}
# The output, for the hang report; beside the folder, not in it (the tests' leftovers are checked there).
log="$scratch.log"
fifo="$scratch.fifo"
mkfifo "$fifo" || exit 2
tee "$log" < "$fifo" &
tee_pid=$!
# The command runs in the foreground (a background job would start with SIGINT ignored, and so would every
# daemon a test starts); the watchdog finds it as this shell's child.
"$(dirname "$0")/hang-report.sh" $$ "$tee_pid" "$limit" "$log" "$scratch" &
watchdog_pid=$!
TMPDIR="$scratch" "$@" > "$fifo" 2>&1
status=$?
kill "$watchdog_pid" 2>/dev/null
wait "$watchdog_pid" 2>/dev/null
[ -e "$scratch.hung" ] && status=124
rm -f "$scratch.hung"

# Processes still running (zombies excepted) whose command line names the folder: daemons, simulators, deploy scripts.
left_processes() {
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = $$ ] && continue
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "$dir/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] || continue
    cmd=$(tr '\0' ' ' < "$dir/cmdline" 2>/dev/null) || continue
    case "$cmd" in *"$scratch/"*) echo "  pid $pid: $cmd" ;; esac
  done
}
# A process's group id (the third field after the parenthesised command name in /proc/PID/stat).
group() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f3; }
processes=$(left_processes)
# Network namespaces of the partition test (cg-test-*, with their veth pairs): host state, never left behind.
namespaces=$(ip netns list 2>/dev/null | sed -n 's/^\(cg-test-[0-9a-f]*\).*/\1/p')
for ns in $namespaces; do
  echo "run-tests.sh: network namespace $ns was left behind (now removed); the test's NetworkNamespace must be released" >&2
  ip netns delete "$ns" 2>/dev/null
  ip link delete "cgh${ns#cg-test-}" 2>/dev/null
  [ "$status" -ne 0 ] || status=1
done
# SwiftPM's own, left by every `swift test` (also one that runs no test): empty lock files and empty
# TemporaryDirectory.* folders. Not the tests': removed without a word.
find "$scratch" -maxdepth 1 -type f -name '_*.lock' -size 0 -delete
for d in "$scratch"/TemporaryDirectory.*; do
  [ -d "$d" ] && [ "$(ls -A "$d")" = .keep-directory ] && rm -r "$d"
done
files=$(cd "$scratch" && find . -mindepth 1 -maxdepth 2 | sort | sed 's|^\./|  |')

if [ -n "$processes" ] || [ -n "$files" ]; then
  echo "run-tests.sh: '$*' left things behind in TMPDIR=$scratch." >&2
  echo "Each test must remove what it creates and stop what it starts, also when it fails (see the test's helper:" >&2
  echo "a defer, a suite class's deinit, or the owner's deinit, as DaemonProcess does)." >&2
  [ -z "$processes" ] || printf 'processes still running (now killed):\n%s\n' "$processes" >&2
  [ -z "$files" ] || printf 'files and folders (two levels shown, now removed):\n%s\n' "$files" >&2
  # Not left for the next run either: kill what runs, then remove the folder.
  # Their whole process group (a deploy script's children too), unless it is ours (make's).
  own=$(group $$)
  echo "$processes" | sed -n 's/^  pid \([0-9]*\):.*/\1/p' | while read -r pid; do
    g=$(group "$pid")
    if [ -n "$g" ] && [ "$g" != "$own" ] && [ "$g" -gt 1 ]; then kill -KILL "-$g" 2>/dev/null; else kill -KILL "$pid" 2>/dev/null; fi
  done
  rm -rf "$scratch"
  [ "$status" -ne 0 ] || status=1
else
  rmdir "$scratch"
fi
# tee ends when the last writer of the fifo has: the command, and anything it started that kept its stdout (killed
# above when it ran in the folder). Something else would keep it forever: it is given a few seconds.
for _ in 1 2 3 4 5; do kill -0 "$tee_pid" 2>/dev/null || break; sleep 1; done
kill "$tee_pid" 2>/dev/null
wait "$tee_pid" 2>/dev/null
rm -f "$fifo" "$log"
exit "$status"
