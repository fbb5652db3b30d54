"""The four parts of the reliability suite: crash, ServiceNow faults, bad input, storage trouble."""
import json, os, random, subprocess, threading, time
from harness import Daemon, Sim, TERMINAL

RUN_SCRIPT = """#!/bin/sh
# Records what the change looked like when the deploy command started (asks the simulator), and the run itself.
seen=none
if [ -n "$CHANGEGATE_CHANGE_NUMBER" ]; then
  seen=$(curl -fsS "$SIM/_sim/changes/$CHANGEGATE_CHANGE_NUMBER" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
fi
echo "$CHANGEGATE_TASK_ID $seen $$" >> "$RUNS/runs.log"
sleep "$(python3 -c 'import random; print(random.uniform(0.05, 0.6))')"
"""


def write_script(d, sim):
    path = os.path.join(d, "deploy.sh")
    open(path, "w").write(RUN_SCRIPT)
    os.chmod(path, 0o755)
    return path


def projects(script, sim, d, extra=""):
    env = f'[projects.{{name}}.environment]\nSIM = "{sim.base}"\nRUNS = "{d}"\n'
    out = ""
    for name, controlled in (("ctl", "true"), ("given", "true"), ("free", "false")):
        out += f'[projects.{name}]\nchange_controlled = {controlled}\nconnection = "sim"\ncommand = ["{script}"]\n'
        out += f'max_concurrent = 8\nkill_grace = "2s"\n{extra}\n' + env.format(name=name)
    return out


class Approver(threading.Thread):
    """Moves changes to Implement at random moments, as change managers would."""

    def __init__(self, sim, rate=0.3):
        super().__init__(daemon=True)
        self.sim, self.rate, self.stopped = sim, rate, False

    def run(self):
        while not self.stopped:
            try:
                for c in self.sim.changes():
                    if c["state"] < -1 and random.random() < self.rate:
                        self.sim.call("POST", f"/_sim/changes/{c['number']}/state", {"state": -1})
            except Exception:
                pass
            time.sleep(random.uniform(0.1, 0.5))


def crash(r, d, deployments, kills):
    sim = Sim(d)
    script = write_script(d, sim)
    daemon = Daemon(d, sim, projects(script, sim, d))
    daemon.start()
    given = [sim.call("POST", "/_sim/changes", {"short_description": f"given {i}", "state": -3})["number"] for i in range(deployments // 6 + 1)]
    approver = Approver(sim)
    approver.start()
    rng = random.Random(42)

    def produce():
        for i in range(deployments):
            kind = rng.choice(["ctl", "ctl", "given", "free"])
            cols = {"project": kind, "environment": "Test" if kind == "free" else "Production", "release": f"r{i}"}
            if kind == "given":
                cols["change_number"] = rng.choice(given)
            producer.insert(**cols)
            time.sleep(rng.uniform(0, 0.08))

    import sqlite3
    producer_conn = sqlite3.connect(daemon.db, timeout=30, isolation_level=None, check_same_thread=False)

    class Producer:
        def insert(self, **cols):
            keys, marks = ", ".join(cols), ", ".join("?" for _ in cols)
            producer_conn.execute(f"INSERT INTO deployments ({keys}) VALUES ({marks})", list(cols.values()))
    producer = Producer()
    feeder = threading.Thread(target=produce, daemon=True)
    feeder.start()
    killed = 0
    while killed < kills:
        # Let the daemon work for a random while, then kill -9 it at whatever it is doing.
        time.sleep(rng.uniform(0.2, 1.2))
        daemon.kill9()
        killed += 1
        daemon.start()
    feeder.join()
    approver.rate = 1.0
    done = daemon.wait_all_terminal(240)
    approver.stopped = True
    r.figure("crash: deployments / kill -9 restarts", f"{deployments} / {killed}")
    r.check("crash: every row reaches a terminal state", done, f"{daemon.unfinished()} unfinished")
    rows = daemon.q("SELECT id, state, outcome, change_link, correlation_id FROM deployments")
    outcomes = {}
    for _, state, outcome, _, _ in rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    r.figure("crash: outcomes", ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items(), key=lambda kv: str(kv[0]))))
    # Exactly one change per deployment that needed a new one, counted by correlation id in the simulator.
    by_corr = {}
    for c in sim.changes():
        if c.get("correlation_id"):
            by_corr[c["correlation_id"]] = by_corr.get(c["correlation_id"], 0) + 1
    needing = [row for row in rows if row[3] in ("created_normal", "created_standard", "created_emergency", "correlation_match")]
    duplicates = [k for k, n in by_corr.items() if n > 1]
    missing = [row[0] for row in needing if by_corr.get(row[4], 0) != 1]
    r.check("crash: exactly one change per deployment that needed one", not duplicates and not missing,
            f"{len(needing)} created, {len(duplicates)} duplicated, {len(missing)} missing")
    runs = [line.split() for line in open(os.path.join(d, "runs.log"))] if os.path.exists(os.path.join(d, "runs.log")) else []
    controlled_ids = {row[0] for row in daemon.q("SELECT id FROM deployments WHERE project != 'free'")}
    bad_starts = [x for x in runs if int(x[0]) in controlled_ids and x[1] != "-1"]
    r.check("crash: no deploy command started outside Implement", not bad_starts, f"{len(runs)} runs, {len(bad_starts)} outside Implement")
    counts = {}
    for x in runs:
        counts[x[0]] = counts.get(x[0], 0) + 1
    twice = [k for k, n in counts.items() if n > 1]
    r.check("crash: no deploy command ran twice for one task", not twice, f"{len(twice)} tasks ran twice")
    daemon.stop()
    sim.stop()


def faults(r, d, deployments):
    sim = Sim(d, "--token-lifetime", "1799")
    script = write_script(d, sim)
    daemon = Daemon(d, sim, projects(script, sim, d), poll="1s")
    sim.call("PUT", "/_sim/faults", {"error_rate": 0.2, "error_status": 503, "rate_limit_every": 10, "retry_after": 2,
                                     "revoke_tokens_every_s": 30, "latency_ms": 300, "seed": 7})
    daemon.start()
    approver = Approver(sim, rate=0.5)
    approver.start()
    for i in range(deployments):
        kind = ["ctl", "ctl", "free"][i % 3]
        daemon.insert(project=kind, environment="Test" if kind == "free" else "Production", release=f"f{i}")
    done = daemon.wait_all_terminal(600)
    approver.stopped = True
    failed = daemon.q("SELECT id, outcome, reason FROM deployments WHERE state != 'succeeded'")
    r.check("faults: every row finished", done, f"{daemon.unfinished()} unfinished")
    r.check("faults: no deployment failed because of a transient fault", not failed,
            "; ".join(f"{i}:{o}: {(why or '')[:160]}" for i, o, why in failed[:3]) or f"{deployments} succeeded")
    log = sim.call("GET", "/_sim/requests")
    entries = log["log"]
    violations, limited = 0, 0
    parse = lambda s: time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + float(s[19:23] if s[19] == "." else 0)
    for i, e in enumerate(entries):
        if e["status"] != 429:
            continue
        limited += 1
        t = parse(e["at"])
        # The client sends one X-Changegate-Request-Id per logical call on every attempt: the retry has the same id.
        for later in entries[i + 1:]:
            if later.get("request_id") and later.get("request_id") == e.get("request_id"):
                if parse(later["at"]) - t < 2.0 - 0.01:
                    violations += 1
                break
    r.check("faults: every Retry-After was respected", violations == 0, f"{limited} answers 429, {violations} retried early")
    r.figure("faults: total ServiceNow requests", log["total"])
    sim.call("DELETE", "/_sim/faults")
    daemon.stop()
    sim.stop()


BAD_ROWS = [
    ({"project": "nope", "environment": "Test", "release": "1"}, "project: unknown project"),
    ({"project": "free", "environment": "Nowhere", "release": "1"}, "environment: unknown"),
    ({"project": "", "environment": "Test", "release": "1"}, "project: is missing"),
    ({"project": "free", "environment": "", "release": "1"}, "environment: is missing"),
    ({"project": "free", "environment": "Test", "release": ""}, "release: is missing"),
    ({"project": None, "environment": "Test", "release": "1"}, "project: is missing"),
    ({"project": "free", "environment": None, "release": "1"}, "environment: is missing"),
    ({"project": "free", "environment": "Test", "release": None}, "release: is missing"),
    ({"project": "free", "environment": "Test", "release": "x" * (1 << 20)}, "release: is 1048576 bytes"),
    ({"project": "free", "environment": "Test", "release": "   "}, "release: is only white space"),
    ({"project": "free", "environment": "Test", "release": "1\n2"}, "release: contains control"),
    ({"project": "free", "environment": "Test", "release": "1\x00"}, "release: contains control"),
    ({"project": "free", "environment": "Test", "release": "\x1b[31mred"}, "release: contains control"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": "not json"}, "variables: is not valid JSON"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": "[]"}, "variables: must be a JSON object"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": "42"}, "variables: must be a JSON object"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '"str"'}, "variables: must be a JSON object"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": "null"}, "variables: must be a JSON object"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A": 1}'}, 'variables: "A" must be a string'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A": true}'}, 'variables: "A" must be a string'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A": null}'}, 'variables: "A" must be a string'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A": {"b": "c"}}'}, 'variables: "A" must be a string'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A=B": "x"}'}, 'variables: name "A=B"'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A\\u0000B": "x"}'}, "variables: name"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"": "x"}'}, "variables: name"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"9LIVES": "x"}'}, "variables: name"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"with space": "x"}'}, "variables: name"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"LD_PRELOAD": "/tmp/x.so"}'}, "variables: name \"LD_PRELOAD\" is reserved"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"PATH": "/tmp"}'}, "variables: name \"PATH\" is reserved"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"CHANGEGATE_TASK_ID": "1"}'}, "variables: name \"CHANGEGATE_TASK_ID\" is reserved"),
    ({"project": "free", "environment": "Test", "release": "1", "variables": '{"A": "x\\u0000y"}'}, 'variables: "A" contains a NUL'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": json.dumps({"A": "x" * 40000})}, 'variables: "A" is 40000 bytes'),
    ({"project": "free", "environment": "Test", "release": "1", "variables": json.dumps({f"V{i}": "x" for i in range(100)})}, "variables: has 100 entries"),
    ({"project": "free", "environment": "Test", "release": "1", "change_number": "12345"}, "change_number:"),
    ({"project": "free", "environment": "Test", "release": "1", "change_number": "CHG'; DROP TABLE deployments; --"}, "change_number:"),
    ({"project": "free", "environment": "Test", "release": "1", "change_type": "standard"}, "change_type:"),
    ({"project": "free", "environment": "Test", "release": "1", "not_before": "next tuesday"}, "not_before:"),
    ({"project": "free'; DROP TABLE deployments; --", "environment": "Test", "release": "1"}, "project: unknown project"),
    ({"project": "fr\u200bee", "environment": "Test", "release": "1"}, "project: unknown project"),
    ({"project": "free", "environment": "Test\u202e", "release": "1"}, "environment: unknown"),
    ({"project": "free", "environment": "Test", "release": "1", "requested_by": "x" * 300}, "requested_by: is 300 bytes"),
]


def bad_input(r, d):
    sim = Sim(d)
    script = write_script(d, sim)
    daemon = Daemon(d, sim, projects(script, sim, d))
    daemon.start()
    bad, good = [], []
    for i, (row, reason) in enumerate(BAD_ROWS):
        bad.append((daemon.insert(**row), reason))
        if i % 4 == 0:
            good.append(daemon.insert(project="free", environment="Test", release=f"good-{i}-ünïcødé-🚀"))
    # Blobs: not UTF-8, and numbers where text is expected.
    blob = daemon.conn.execute("INSERT INTO deployments (project, environment, release) VALUES ('free', 'Test', X'C3FF80')").lastrowid
    bad.append((blob, "release: must be text"))
    blob2 = daemon.conn.execute("INSERT INTO deployments (project, environment, release) VALUES (X'00FF', 'Test', '1')").lastrowid
    bad.append((blob2, "project: must be text"))
    done = daemon.wait_all_terminal(120)
    wrong = []
    for i, reason in bad:
        state, outcome, why = daemon.q("SELECT state, outcome, reason FROM deployments WHERE id = ?", i)[0]
        if state != "failed" or outcome != "invalid_request" or not (why or "").startswith(reason):
            wrong.append(f"{i}: {state}/{outcome}/{(why or '')[:60]!r} (wanted {reason!r})")
    r.check(f"bad input: {len(bad)} malformed rows fail with a reason naming the problem", done and not wrong, "; ".join(wrong[:3]) or f"{len(bad)} rows")
    good_states = [daemon.q("SELECT state FROM deployments WHERE id = ?", i)[0][0] for i in good]
    r.check("bad input: the good rows among them all succeed", all(s == "succeeded" for s in good_states), f"{len(good)} good rows")
    # Malformed ServiceNow answers: retried or failed clearly, never a crash.
    results = []
    for kind in ("truncated", "html", "wrong_types", "error_body_200"):
        sim.call("PUT", "/_sim/faults", {"malformed_rate": 0.3, "malformed_kind": kind, "seed": 3})
        ids = [daemon.insert(project="ctl", environment="Production", release=f"{kind}-{k}") for k in range(3)]
        # The change manager approves each change as it appears: with malformed answers retried, creating one can
        # take longer than any fixed wait on a busy machine.
        deadline = time.time() + 120
        while daemon.unfinished() and time.time() < deadline:
            for c in sim.changes():
                if c["state"] < -1:
                    sim.call("POST", f"/_sim/changes/{c['number']}/state", {"state": -1})
            time.sleep(0.3)
        ok = daemon.unfinished() == 0
        states = [daemon.q("SELECT state, ifnull(reason,'') FROM deployments WHERE id = ?", i)[0] for i in ids]
        results.append((kind, ok, states))
    sim.call("DELETE", "/_sim/faults")
    unclear = [(k, s) for k, ok, st in results for s in st if not ok or (s[0] == "failed" and not s[1])]
    r.check("bad input: malformed ServiceNow answers are retried or fail clearly", not unclear,
            ", ".join(f"{k}: " + "/".join(s[0] for s in st) for k, _, st in results))
    r.check("bad input: the daemon stays up", daemon.alive())
    daemon.stop()
    sim.stop()


def storage(r, d):
    mnt = os.path.join(d, "small-fs")
    os.makedirs(mnt)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt]) != 0:
        r.check("storage: a small file system can be mounted (needs root)", False)
        return
    try:
        script = os.path.join(d, "chatty.sh")
        open(script, "w").write("#!/bin/sh\ni=0\nwhile [ $i -lt 200 ]; do echo \"line $i of output that takes some space in the task log\"; i=$((i+1)); done\n")
        os.chmod(script, 0o755)
        daemon = Daemon(d, None, f'[projects.free]\nchange_controlled = false\ncommand = ["{script}"]\nmax_concurrent = 4\n',
                        database=os.path.join(mnt, "changegate.db"), watchdog_usec=2_000_000)
        daemon.start()
        first = [daemon.insert(project="free", environment="Test", release=f"a{i}") for i in range(5)]
        daemon.wait_all_terminal(60)
        # Fill the file system, then queue more work.
        filler = os.path.join(mnt, "filler")
        subprocess.call(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            more = [daemon.insert(project="free", environment="Test", release=f"b{i}") for i in range(5)]
        except Exception:
            os.truncate(filler, os.path.getsize(filler) - 256 * 1024)  # room for the producer's insert only
            more = [daemon.insert(project="free", environment="Test", release=f"b{i}") for i in range(5)]
            subprocess.call(["dd", "if=/dev/zero", f"of={filler}", "bs=4k", "oflag=append", "conv=notrunc"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_full = time.time()
        time.sleep(6)
        pings = daemon.notify.pings_between(t_full, time.time())
        r.check("storage: full file system is reported clearly", "is full" in daemon.log(), "journal says: file system … is full")
        r.check("storage: the watchdog stays honest while full (the loop still runs)", len(pings) >= 3 and daemon.alive(), f"{len(pings)} pings in 6 s")
        os.remove(filler)
        ok = daemon.wait_all_terminal(60)
        states = [daemon.q("SELECT state FROM deployments WHERE id = ?", i)[0][0] for i in first + more]
        r.check("storage: carries on when space returns", ok and all(s == "succeeded" for s in states), "/".join(sorted(set(states))))
        # Read-only: a mounted file system with files open for writing cannot be remounted read-only, so the
        # daemon is stopped, the file system made read-only, and the daemon started on it.
        daemon.stop()
        daemon.conn.close()
        daemon.conn = None
        subprocess.check_call(["mount", "-o", "remount,ro", mnt])
        before = len(daemon.log())
        daemon.p = subprocess.Popen([f"{os.environ.get('CHANGEGATE_BIN_DIR', '.build/debug')}/changegate", "daemon", "--config", daemon.config],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = daemon.p.communicate(timeout=30)
        r.check("storage: a read-only database stops start-up with a clear error", daemon.p.returncode != 0 and "read-only" in out,
                out.strip().splitlines()[-1][:120] if out.strip() else f"exit {daemon.p.returncode}")
        subprocess.check_call(["mount", "-o", "remount,rw", mnt])
        daemon.start()
        late = daemon.insert(project="free", environment="Test", release="after-ro")
        ok = daemon.wait_all_terminal(60)
        r.check("storage: carries on once writable again", ok and daemon.q("SELECT state FROM deployments WHERE id = ?", late)[0][0] == "succeeded")
        daemon.stop()
        check = subprocess.run(["sqlite3", daemon.db, "PRAGMA integrity_check"], capture_output=True, text=True).stdout.strip()
        r.check("storage: nothing corrupted (PRAGMA integrity_check)", check == "ok", check)
        daemon.notify.close()
    finally:
        subprocess.call(["umount", "-l", mnt])
