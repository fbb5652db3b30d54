#!/usr/bin/env bash
# `make bench`: the client's and the daemon's figures (goals, not test assertions).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CHANGEGATE_BIN_DIR:-.build/release}
echo "== ServiceNow client against the simulator"
"$BIN/ClientBench"
echo
echo "== Daemon"
CHANGEGATE_BIN_DIR=$BIN python3 bench/daemon_bench.py
