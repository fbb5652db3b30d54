#!/usr/bin/env python3
"""`make bench`: the daemon's figures against the simulator, printed as a table (goals, not assertions)."""
import contextlib, json, os, signal, socket, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.request

BIN = os.environ.get("CHANGEGATE_BIN_DIR", ".build/release")
os.environ["CHANGEGATE_BIN_DIR"] = BIN
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402  (the reliability suite's wrappers of the simulator and the daemon)
import memory  # noqa: E402  (bench/memory.py)
import ha_bench  # noqa: E402  (bench/ha_bench.py)
from harness import Sim  # noqa: E402
QUICK = os.environ.get("BENCH_QUICK") == "1"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Daemon(harness.Daemon):
    """The reliability suite's daemon wrapper, started at once, with what the figures need."""

    def __init__(self, d, sim, projects, poll="1s"):
        super().__init__(d, sim, projects, poll=poll, log_level="warning")
        self.start()
        time.sleep(0.3)

    def state(self, i):
        return self.conn.execute("SELECT state FROM deployments WHERE id = ?", (i,)).fetchone()[0]

    def wait(self, i, states, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.state(i) in states:
                return
            time.sleep(0.002)
        raise RuntimeError(f"task {i} stuck in {self.state(i)}")

    def rss_kb(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


@contextlib.contextmanager
def scratch():
    """A temporary folder; on leaving it, also after an error, every simulator and daemon is stopped first."""
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as d:
        try:
            yield d
        finally:
            harness.cleanup()


def project(name, command, controlled="true", extra=""):
    return f'[projects.{name}]\nchange_controlled = {controlled}\nconnection = "sim"\ncommand = {json.dumps(command)}\nkill_grace = "5s"\n{extra}\n'


def bench_intake(rows):
    with scratch() as d:
        daemon = Daemon(d, None, project("fast", ["/bin/true"], controlled="false", extra="max_concurrent = 64"))
        lat = []
        for _ in range(rows):
            t0 = time.perf_counter()
            i = daemon.insert(project="fast", environment="Test", release="1")
            while daemon.state(i) == "queued":
                time.sleep(0.0005)
            lat.append((time.perf_counter() - t0) * 1000)
        daemon.stop()
        return lat


def bench_approval_and_abort(samples):
    with scratch() as d:
        sim = Sim(d)
        start = os.path.join(d, "start.sh")
        open(start, "w").write(f'#!/bin/sh\ndate +%s.%N > "{d}/started-$CHANGEGATE_TASK_ID"\n')
        hold = os.path.join(d, "hold.sh")
        open(hold, "w").write(f'#!/bin/sh\ntrap \'date +%s.%N > "{d}/term-$CHANGEGATE_TASK_ID"; exit 143\' TERM\nwhile true; do sleep 0.05; done\n')
        os.chmod(start, 0o755); os.chmod(hold, 0o755)
        daemon = Daemon(d, sim, project("quick", [start], extra="max_concurrent = 50") + project("hold", [hold], extra="max_concurrent = 50"))
        approve, abort = [], []
        for _ in range(samples):
            n = sim.create(short_description="bench approval", state=-4)
            i = daemon.insert(project="quick", environment="Production", release="1", change_number=n)
            daemon.wait(i, {"awaiting_approval"})
            time.sleep(0.5 + (hash(n) % 1000) / 1000 * 3)  # a random moment within the poll cycle
            t0 = time.time()
            sim.state(n, -1)
            f = f"{d}/started-{i}"
            while not os.path.exists(f) or not open(f).read().strip():
                time.sleep(0.005)
            approve.append(float(open(f).read()) - t0)
        for _ in range(samples):
            n = sim.create(short_description="bench abort", state=-1, approval="approved")
            i = daemon.insert(project="hold", environment="Production", release="1", change_number=n)
            daemon.wait(i, {"executing"})
            time.sleep(0.5 + (hash(n) % 1000) / 1000 * 3)
            t0 = time.time()
            sim.state(n, 0)
            f = f"{d}/term-{i}"
            while not os.path.exists(f) or not open(f).read().strip():
                time.sleep(0.005)
            abort.append(float(open(f).read()) - t0)
            daemon.wait(i, {"failed"})
        daemon.stop(); sim.stop()
        return approve, abort


class PushDaemon(Daemon):
    """A daemon with `webhook_listen` on `port`, polling every 120 s: every approval it sees comes by a notice."""

    def __init__(self, d, sim, projects, port, secret_file):
        harness.Daemon.__init__(self, d, sim, projects, poll="120s", log_level="warning")
        text = open(self.config).read().replace(
            "[daemon]\n", f'[daemon]\nwebhook_listen = "127.0.0.1:{port}"\nwebhook_secret_file = "{secret_file}"\n', 1)
        open(self.config, "w").write(text)
        self.start()
        deadline = time.time() + 30
        while True:  # the listener is up when it takes a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("the webhook listener did not start")
                time.sleep(0.05)


def bench_approval_with_push(samples):
    """Change to Implement → child started, when the simulator posts signed notices (docs/push-notifications.md)."""
    with scratch() as d:
        sim = Sim(d)
        secret = "bench-webhook-secret-0123456789abcdef"
        secret_file = os.path.join(d, "webhook-secret")
        open(secret_file, "w").write(secret)
        os.chmod(secret_file, 0o600)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        start = os.path.join(d, "start.sh")
        open(start, "w").write(f'#!/bin/sh\ndate +%s.%N > "{d}/started-$CHANGEGATE_TASK_ID"\n')
        os.chmod(start, 0o755)
        daemon = PushDaemon(d, sim, project("quick", [start], extra="max_concurrent = 50"), port, secret_file)
        sim.call("POST", "/_sim/webhooks", {"url": f"http://127.0.0.1:{port}/changegate/v1/change-updated", "secret": secret})
        approve = []
        for _ in range(samples):
            n = sim.create(short_description="bench approval with push", state=-4)
            i = daemon.insert(project="quick", environment="Production", release="1", change_number=n)
            daemon.wait(i, {"awaiting_approval"})
            time.sleep(0.2)
            t0 = time.time()
            sim.state(n, -1)
            f = f"{d}/started-{i}"
            deadline = time.time() + 60
            while not os.path.exists(f) or not open(f).read().strip():
                if time.time() > deadline:
                    raise RuntimeError(f"task {i} did not start after its notice (state {daemon.state(i)})")
                time.sleep(0.002)
            approve.append(float(open(f).read()) - t0)
        daemon.stop(); sim.stop()
        return approve


def waiting_daemon(d, sim, n, poll="1s"):
    """A daemon with `n` deployments awaiting approval, each on a change of its own."""
    numbers = [sim.create(short_description=f"wait {k}", state=-3) for k in range(n)]
    daemon = Daemon(d, sim, project("w", ["/bin/true"]), poll=poll)
    daemon.conn.execute("BEGIN")
    for num in numbers:
        daemon.insert(project="w", environment="Production", release="1", change_number=num)
    daemon.conn.execute("COMMIT")
    end = time.time() + 300
    while daemon.conn.execute("SELECT count(*) FROM deployments WHERE state='awaiting_approval'").fetchone()[0] < n:
        if time.time() > end:
            raise RuntimeError("rows did not reach awaiting_approval")
        time.sleep(0.1)
    return daemon


def bench_poll_cost(n, cycles=5):
    """Requests and answer bytes a poll cycle with `n` deployments waiting and nothing changing, at the default
    poll (1 s): the delta reads, the reads by number of newly watched changes being done first."""
    with scratch() as d:
        sim = Sim(d)
        daemon = waiting_daemon(d, sim, n)
        # Past the delta's reach (poll_overlap, 5 s) since the changes were created: from here nothing changes.
        time.sleep(8)
        sim.call("DELETE", "/_sim/requests")
        time.sleep(1.0 * cycles)
        answer = sim.call("GET", "/_sim/requests")
        total = sum(1 for e in answer["log"] if e["path"] != "/oauth_token.do")
        deltas = sum(1 for e in answer["log"] if "RELATIVEGE" in e["query"])
        mem = memory.figures(daemon.p.pid)
        mem["dominant"] = memory.dominant(daemon.p.pid)
        daemon.stop(); sim.stop()
        return total / max(1, deltas), answer["bytes"] / max(1, deltas), mem


def bench_requests_per_hour(n, seconds=130):
    """Requests a connection sends with `n` deployments waiting all the time, extrapolated to an hour from
    `seconds` (two reconciles in the window), and the bytes of one reconcile."""
    with scratch() as d:
        sim = Sim(d)
        daemon = waiting_daemon(d, sim, n)
        time.sleep(3)
        sim.call("DELETE", "/_sim/requests")
        time.sleep(seconds)
        answer = sim.call("GET", "/_sim/requests")
        daemon.stop(); sim.stop()
        total = sum(1 for e in answer["log"] if e["path"] != "/oauth_token.do")
        return total * 3600 / seconds


def bench_idle_memory():
    """The daemon with a connection and nothing queued, after a few poll cycles."""
    with scratch() as d:
        sim = Sim(d)
        daemon = Daemon(d, sim, project("w", ["/bin/true"]), poll="2s")
        time.sleep(6)
        mem = memory.figures(daemon.p.pid)
        mem["dominant"] = memory.dominant(daemon.p.pid)
        daemon.stop(); sim.stop()
        return mem


def memory_current():
    """MemoryCurrent= of the daemon run as a unit in a systemd box (the cgroup's charge: anonymous memory plus the
    page cache of the binary and database it read), idle after a few seconds."""
    box = os.path.join(os.path.dirname(__file__), "..", "Tests", "SystemdBox", "systemd-box")
    if os.geteuid() != 0 or not os.access(box, os.X_OK):
        return "n/a (needs root and Tests/SystemdBox)"
    name = f"bench-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(f"{d}/units")
        with open(f"{d}/units/changegate-bench.service", "w") as f:
            f.write("[Service]\nType=notify\nMemoryAccounting=yes\nStateDirectory=cgbench\n"
                    "ExecStart=/usr/local/bin/changegate daemon --config /run/cgbench/changegate.toml\n")
        with open(f"{d}/changegate.toml", "w") as f:
            f.write('[daemon]\ndatabase = "/var/lib/cgbench/changegate.db"\nlog_level = "warning"\n'
                    '[environments.Test]\nchange_controlled = false\n' + project("noop", ["/bin/true"], controlled="false").replace('connection = "sim"\n', ""))
        binary = os.path.abspath(os.path.join(BIN, "changegate"))
        run = lambda *a: subprocess.run([box, *a], capture_output=True, text=True, timeout=120)
        started = run("start", name, "--units", f"{d}/units", "--bind-ro", f"{binary}:/usr/local/bin/changegate",
                      "--bind-ro", f"{d}:/run/cgbench")
        if started.returncode != 0:
            return f"n/a (box did not start: {started.stderr.strip()[-80:]})"
        try:
            if run("exec", name, "--", "systemctl", "start", "changegate-bench").returncode != 0:
                return "n/a (the unit did not start in the box)"
            time.sleep(5)
            value = run("exec", name, "--", "systemctl", "show", "-P", "MemoryCurrent", "changegate-bench").stdout.strip()
            return memory.mb(int(value) / 1024) if value.isdigit() else f"n/a ({value or 'not reported'})"
        finally:
            run("stop", name)
            run("check-clean", name)


def bench_throughput(n):
    with scratch() as d:
        daemon = Daemon(d, None, project("noop", ["/bin/true"], controlled="false", extra="max_concurrent = 32"))
        t0 = time.perf_counter()
        daemon.conn.execute("BEGIN")
        for _ in range(n):
            daemon.insert(project="noop", environment="Test", release="1")
        daemon.conn.execute("COMMIT")
        while daemon.conn.execute("SELECT count(*) FROM deployments WHERE state IN ('succeeded','failed')").fetchone()[0] < n:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        failed = daemon.conn.execute("SELECT count(*) FROM deployments WHERE state='failed'").fetchone()[0]
        daemon.stop()
        return n / elapsed, failed


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def bench_idle_cpu(waiting, seconds):
    """The daemon's CPU share of one core over `seconds`, idle or with `waiting` deployments awaiting approval
    at the default poll interval (3 s)."""
    with scratch() as d:
        sim = Sim(d) if waiting else None
        daemon = waiting_daemon(d, sim, waiting) if waiting else Daemon(d, None, project("w", ["/bin/true"]))
        time.sleep(4)
        t0, c0 = time.time(), cpu_ticks(daemon.p.pid)
        time.sleep(seconds)
        share = (cpu_ticks(daemon.p.pid) - c0) / os.sysconf("SC_CLK_TCK") / (time.time() - t0) * 100
        daemon.stop()
        if sim:
            sim.stop()
        return share


def bench_default_throughput(n):
    """No-op deployments at the defaults (max_concurrent = 1), all queued at once: deployments a second."""
    with scratch() as d:
        daemon = Daemon(d, None, project("noop", ["/bin/true"], controlled="false"))
        daemon.conn.execute("BEGIN")
        for _ in range(n):
            daemon.insert(project="noop", environment="Test", release="1")
        daemon.conn.execute("COMMIT")
        t0 = time.perf_counter()
        while daemon.conn.execute("SELECT count(*) FROM deployments WHERE state IN ('succeeded','failed')").fetchone()[0] < n:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        daemon.stop()
        return n / elapsed


def main():
    rows = []
    lat = bench_intake(50 if QUICK else 300)
    rows.append(("intake: INSERT → row leaves queued, p50 / p99", f"{pct(lat, 50):.1f} ms / {pct(lat, 99):.1f} ms", "≤ 5 ms / ≤ 250 ms"))
    seconds = 10 if QUICK else 30
    rows.append(("idle CPU, 0 tasks", f"{bench_idle_cpu(0, seconds):.3f} % of a core", "≤ 0.1 %"))
    rows.append(("idle CPU, 1,000 awaiting approval (default poll, 1 s)", f"{bench_idle_cpu(1000, seconds):.2f} % of a core", "≤ 1 %"))
    for n in ([500, 2000] if QUICK else [2000, 10000]):
        rows.append((f"no-op throughput at the defaults (max_concurrent 1), {n:,} queued", f"{bench_default_throughput(n):.0f} /s",
                     "≥ 300 /s, the same at any queue length"))
    approve, abort = bench_approval_and_abort(3 if QUICK else 12)
    rows.append(("approval: change to Implement → child started, p50 (default poll, 1 s)", f"{statistics.median(approve):.2f} s", "≤ 0.5 s (was 2.06 s)"))
    rows.append(("abort: change leaves Implement → group signalled, p50", f"{statistics.median(abort):.2f} s", "≤ 1 s (was 1.85 s)"))
    push = bench_approval_with_push(5 if QUICK else 20)
    rows.append(("approval with push: change to Implement → child started, p50", f"{statistics.median(push):.3f} s", "≤ 0.1 s"))
    mem_1000 = None
    for n in ([1, 100] if QUICK else [1, 100, 1000, 10000]):
        per_cycle, size, mem = bench_poll_cost(n)
        rows.append((f"ServiceNow requests per poll cycle, {n:,} waiting, nothing changed", f"{per_cycle:.1f} ({size / 1024:.1f} KB)",
                     f"≤ 1 (was {1 + -(-n // 100)})"))
        if n == 1000:
            rows.append(("bytes per poll cycle, 1,000 waiting", f"{size / 1024:.1f} KB", "(was ≈ 6.6 MB)"))
        if n == 1000 or (QUICK and n == 100):
            mem_1000 = (n, mem)
    if not QUICK:
        rows.append(("ServiceNow requests an hour, 1,000 waiting (polls and reconciles, within the budget)", f"{bench_requests_per_hour(1000):,.0f}",
                     "≈ requests_per_hour 3,000 (was 12,479)"))
    idle = bench_idle_memory()
    rows.append(("memory idle: anonymous (what the daemon adds)", memory.mb(idle["Anonymous"]), "≤ 8 MB"))
    rows.append(("memory idle: PSS (its share of all pages)", memory.mb(idle["Pss"]), "≤ 25 MB"))
    rows.append(("memory idle: RSS (counts shared pages whole)", memory.mb(idle["Rss"]), "-"))
    notes = []
    if idle["Anonymous"] > 8 * 1024 or idle["Pss"] > 25 * 1024:
        notes.append("idle: most anonymous memory is in " + ", ".join(idle["dominant"]))
    if mem_1000:
        n, mem = mem_1000
        extra = mem["Anonymous"] - idle["Anonymous"]
        rows.append((f"memory with {n:,} waiting: anonymous, more than idle", memory.mb(extra), f"≤ {8 * n // 1000} MB" if n >= 1000 else "-"))
        rows.append((f"memory with {n:,} waiting: PSS / RSS", f"{memory.mb(mem['Pss'])} / {memory.mb(mem['Rss'])}", "-"))
        if n >= 1000 and extra > 8 * 1024:
            notes.append(f"{n} waiting: most anonymous memory is in " + ", ".join(mem["dominant"]))
    current = memory_current()
    rows.append(("unit MemoryCurrent, idle (in a systemd box)", current, "-"))
    tput, failed = bench_throughput(1000 if QUICK else 10000)
    rows.append((f"throughput: {'1,000' if QUICK else '10,000'} not-controlled no-op deployments", f"{tput:.0f} /s ({failed} failed)", "≥ 200 /s"))
    failover = ha_bench.bench_failover(3 if QUICK else 8)
    rows.append(("failover: leader killed → a standby leads (3 daemons, default 8 s lease), p50 / max",
                 f"{statistics.median(failover):.1f} s / {max(failover):.1f} s", "≤ 10 s / ≤ 10 s"))
    w = max(len(r[0]) for r in rows)
    print(f"\n{'figure'.ljust(w)}  {'measured'.ljust(22)}  goal")
    print(f"{'-' * w}  {'-' * 22}  {'-' * 18}")
    for name, value, goal in rows:
        print(f"{name.ljust(w)}  {value.ljust(22)}  {goal}")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
