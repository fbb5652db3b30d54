#!/usr/bin/env bash
# `make demo`: the simulator and the daemon on a demo config and a fresh database under ./demo-run,
# and deployments that show each path through the state machine. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CHANGEGATE_BIN_DIR:-.build/debug}
RUN=$PWD/demo-run
rm -rf "$RUN" && mkdir -p "$RUN"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say() { printf '\033[1m▶ %s\033[0m\n' "$*"; }
sim() { curl -fsS -H 'content-type: application/json' "$@"; }

say "Starting the ServiceNow simulator"
"$BIN/changegate-snowsim" --port 0 --port-file "$RUN/sim.port" --quiet >"$RUN/simulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $RUN/sim.port ]] && break; sleep 0.1; done
SIM="http://127.0.0.1:$(cat "$RUN/sim.port")"
echo "  listening on $SIM"

printf 'sim-client-secret' >"$RUN/client-secret"; printf 'sim-password' >"$RUN/password"
chmod 600 "$RUN/client-secret" "$RUN/password"
DEPLOY=$PWD/scripts/demo-deploy.sh
cat >"$RUN/changegate.toml" <<TOML
[daemon]
database = "$RUN/changegate.db"
poll_interval = "1s"

[servicenow.demo]
url = "$SIM"
client_id = "changegate"
client_secret_file = "$RUN/client-secret"
username = "svc.changegate"
password_file = "$RUN/password"

[environments.Production]
change_controlled = true
[environments.Staging]
change_controlled = true
[environments.Dev]
change_controlled = false

[projects.web-shop]
change_controlled = true
command = ["$DEPLOY"]
close_change = "review"
[projects.web-shop.change_fields]
assignment_group = "Web Platform"

[projects.payments]
change_controlled = true
command = ["$DEPLOY"]
change_template = "changegate demo: standard deploy"
close_change = "closed"

[projects.api]
change_controlled = true
command = ["$DEPLOY"]
close_change = "review"

[projects.storefront]
change_controlled = true
command = ["$DEPLOY"]
conflict_check = "block"
conflict_recheck = "1s"
cmdb_ci = "storefront-prod-01"

[projects.batch-jobs]
change_controlled = true
command = ["$DEPLOY"]
kill_grace = "3s"
[projects.batch-jobs.environment]
DEMO_STEPS = "30"
TOML
"$BIN/changegate" check-config --config "$RUN/changegate.toml"

say "Starting the daemon"
"$BIN/changegate" daemon --config "$RUN/changegate.toml" >"$RUN/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -e $RUN/changegate.db.lock ]] && break; sleep 0.1; done
DB=$RUN/changegate.db
q() { sqlite3 -cmd '.timeout 5000' "$DB" "$@"; }
ins() { q "INSERT INTO deployments ($1) VALUES ($2); SELECT last_insert_rowid();"; }
col() { q "SELECT ifnull($2,'') FROM deployments WHERE id = $1"; }
wait_state() { # id state...
  local id=$1; shift
  for _ in $(seq 600); do
    local s; s=$(col "$id" state)
    for want in "$@"; do [[ $s == "$want" ]] && { echo "  task $id: $s"; return; }; done
    sleep 0.1
  done
  echo "  task $id did not reach $* (now $(col "$id" state))"; return 1
}

say "1. A deployment to Dev (not change controlled) runs at once"
t1=$(ins "project, environment, release" "'web-shop', 'Dev', '2.4.1'")
wait_state "$t1" succeeded

say "2. web-shop 2.4.1 to Production: a new normal change is created and waits for approval"
t2=$(ins "project, environment, release, requested_by" "'web-shop', 'Production', '2.4.1', 'alice'")
wait_state "$t2" awaiting_approval
c2=$(col "$t2" change_number); echo "  created $c2; the change manager approves it and moves it to Implement"
sim -X POST "$SIM/_sim/changes/$c2/state" -d '{"state": -1}' >/dev/null

say "3. payments 7.0 to Production: a standard change from the template \"changegate demo: standard deploy\""
t3=$(ins "project, environment, release" "'payments', 'Production', '7.0'")
wait_state "$t3" awaiting_approval implement_check executing succeeded
c3=$(col "$t3" change_number); echo "  created standard change $c3 (pre-approved); scheduled work starts"
sim -X POST "$SIM/_sim/changes/$c3/state" -d '{"state": -1}' >/dev/null

say "4. An existing change, linked by number and used by two deployments (Staging, then Production)"
c4=$(sim -X POST "$SIM/_sim/changes" -d '{"short_description": "API release train 12", "state": -1, "approval": "approved"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')
echo "  $c4 was raised by hand and is in Implement"
t4a=$(ins "project, environment, release, change_number" "'api', 'Staging', '12.0', '$c4'")
t4b=$(ins "project, environment, release, change_number" "'api', 'Production', '12.0', '$c4'")

say "5. web-shop 2.5.0 to Production: the CAB rejects the change"
t5=$(ins "project, environment, release" "'web-shop', 'Production', '2.5.0'")
wait_state "$t5" awaiting_approval
c5=$(col "$t5" change_number)
sim -X POST "$SIM/_sim/changes/$c5/state" -d '{"state": -3}' >/dev/null
sim -X POST "$SIM/_sim/changes/$c5/reject" -d '{"approver": "Bob CAB", "comments": "Not during the sales freeze"}' >/dev/null
echo "  Bob CAB rejected $c5"

say "6. batch-jobs 3.1 to Production: the change is pulled out of Implement mid-deployment"
c6=$(sim -X POST "$SIM/_sim/changes" -d '{"short_description": "Batch jobs 3.1", "state": -1, "approval": "approved"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')
t6=$(ins "project, environment, release, change_number" "'batch-jobs', 'Production', '3.1', '$c6'")
wait_state "$t6" executing
sleep 2
echo "  a change manager moves $c6 back to Scheduled while it runs"
sim -X POST "$SIM/_sim/changes/$c6/state" -d '{"state": -2}' >/dev/null

say "7. A bad row: an unknown project"
t7=$(ins "project, environment, release" "'no-such-project', 'Production', '1.0'")

say "8. storefront 5.2 to Production: a blackout over the change's window holds it"
sim -X POST "$SIM/_sim/cis" -d '{"name": "storefront-prod-01"}' >/dev/null
from=$(date -u -d '-1 hour' '+%Y-%m-%d %H:%M:%S'); to=$(date -u -d '+2 hours' '+%Y-%m-%d %H:%M:%S')
c8=$(sim -X POST "$SIM/_sim/changes" -d "{\"short_description\": \"Storefront 5.2\", \"state\": -1, \"approval\": \"approved\", \"cmdb_ci\": \"storefront-prod-01\", \"start_date\": \"$from\", \"end_date\": \"$to\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')
sim -X POST "$SIM/_sim/blackouts" -d "{\"name\": \"Storefront freeze\", \"start\": \"$from\", \"end\": \"$to\", \"cis\": [\"storefront-prod-01\"]}" >/dev/null
echo "  $c8 is approved and in Implement, but the blackout \"Storefront freeze\" covers its window"
t8=$(ins "project, environment, release, change_number" "'storefront', 'Production', '5.2', '$c8'")
for _ in $(seq 600); do "$BIN/changegate" logs "$t8" --database "$DB" | grep -q 'held:' && break; sleep 0.1; done
q -header -column "SELECT id AS task, project, state, change_number AS change FROM deployments WHERE id = $t8"
"$BIN/changegate" logs "$t8" --database "$DB" | grep -m1 'held:' | sed 's/^/  /'
echo "  the freeze is lifted: the deployment runs at its next check"
sim -X DELETE "$SIM/_sim/blackouts/Storefront%20freeze" >/dev/null

say "Waiting for every deployment to finish"
for t in "$t1" "$t2" "$t3" "$t4a" "$t4b" "$t5" "$t6" "$t7" "$t8"; do wait_state "$t" succeeded failed cancelled; done

echo
say "Result"
q -header -column "SELECT id AS task, project, environment, state, ifnull(change_number,'-') AS change, outcome FROM deployments ORDER BY id"
echo
echo "Why task $t5 failed:  $(col "$t5" reason)"
echo "Why task $t6 failed:  $(col "$t6" reason)"
echo "Why task $t7 failed:  $(col "$t7" reason)"
echo
say "Task $t2's log (changegate logs $t2)"
"$BIN/changegate" logs "$t2" --database "$DB"
echo
echo "Work notes on $c2:"
sim "$SIM/_sim/changes/$c2" | python3 -c 'import json,sys; c=json.load(sys.stdin); [print("  -", n["text"].replace("\n", "; ")) for n in c["work_notes"]]; print("  state:", c["state_name"], "close code:", c["close_code"])'
echo
say "The audit trail (changegate audit verify)"
"$BIN/changegate" audit verify --database "$DB"
echo
echo "Files are in $RUN (daemon.log, simulator.log, changegate.db). Stopping the daemon and the simulator."
