#!/usr/bin/env python3
"""`make bench`: the daemon's figures against the simulator, printed as a table (goals, not assertions)."""
import contextlib, json, os, signal, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.request

BIN = os.environ.get("CHANGEGATE_BIN_DIR", ".build/release")
os.environ["CHANGEGATE_BIN_DIR"] = BIN
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
import harness  # noqa: E402  (the reliability suite's wrappers of the simulator and the daemon)
from harness import Sim  # noqa: E402
QUICK = os.environ.get("BENCH_QUICK") == "1"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Daemon(harness.Daemon):
    """The reliability suite's daemon wrapper, started at once, with what the figures need."""

    def __init__(self, d, sim, projects, poll="3s"):
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


def bench_poll_cost(n, cycles=3):
    with scratch() as d:
        sim = Sim(d)
        numbers = [sim.create(short_description=f"wait {k}", state=-3) for k in range(n)]
        daemon = Daemon(d, sim, project("w", ["/bin/true"]), poll="2s")
        daemon.conn.execute("BEGIN")
        for num in numbers:
            daemon.insert(project="w", environment="Production", release="1", change_number=num)
        daemon.conn.execute("COMMIT")
        end = time.time() + 300
        while daemon.conn.execute("SELECT count(*) FROM deployments WHERE state='awaiting_approval'").fetchone()[0] < n:
            if time.time() > end:
                raise RuntimeError("rows did not reach awaiting_approval")
            time.sleep(0.1)
        time.sleep(2.5)
        sim.call("DELETE", "/_sim/requests")
        time.sleep(2.0 * cycles)
        total = sim.call("GET", "/_sim/requests")["total"]
        rss = daemon.rss_kb()
        daemon.stop(); sim.stop()
        return total / cycles, rss


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


def main():
    rows = []
    lat = bench_intake(50 if QUICK else 300)
    rows.append(("intake: INSERT → row leaves queued, p50 / p99", f"{pct(lat, 50):.1f} ms / {pct(lat, 99):.1f} ms", "≤ 50 ms / ≤ 250 ms"))
    approve, abort = bench_approval_and_abort(3 if QUICK else 12)
    rows.append(("approval: change to Implement → child started, p50 (poll 3 s)", f"{statistics.median(approve):.2f} s", "≤ 2 s"))
    rows.append(("abort: change leaves Implement → group signalled, p50", f"{statistics.median(abort):.2f} s", "≤ 3 s"))
    rss_1000 = None
    for n in ([1, 100] if QUICK else [1, 100, 1000, 10000]):
        per_cycle, rss = bench_poll_cost(n)
        goal = 1 + -(-n // 100)
        rows.append((f"ServiceNow requests per poll cycle, {n} waiting", f"{per_cycle:.1f}", f"≤ {goal}"))
        if n == 1000:
            rss_1000 = rss
    if rss_1000 is not None:
        rows.append(("daemon RSS, idle with 1,000 waiting", f"{rss_1000 / 1024:.1f} MB", "≤ 25 MB"))
    tput, failed = bench_throughput(1000 if QUICK else 10000)
    rows.append((f"throughput: {'1,000' if QUICK else '10,000'} not-controlled no-op deployments", f"{tput:.0f} /s ({failed} failed)", "≥ 200 /s"))
    w = max(len(r[0]) for r in rows)
    print(f"\n{'figure'.ljust(w)}  {'measured'.ljust(22)}  goal")
    print(f"{'-' * w}  {'-' * 22}  {'-' * 18}")
    for name, value, goal in rows:
        print(f"{name.ljust(w)}  {value.ljust(22)}  {goal}")


if __name__ == "__main__":
    main()
