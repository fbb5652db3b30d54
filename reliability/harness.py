"""Shared pieces of the reliability suite: the simulator, the daemon, the queue, and a notify socket."""
import json, os, random, signal, socket, sqlite3, subprocess, tempfile, threading, time, urllib.error, urllib.request

BIN = os.environ.get("CHANGEGATE_BIN_DIR", ".build/debug")
TERMINAL = ("succeeded", "failed", "cancelled")

# Every simulator and daemon started, so a part that fails half-way leaves no process behind.
_started = []


def cleanup():
    folders = {thing.d for thing in _started if isinstance(thing, Daemon)}
    for thing in reversed(_started):
        try:
            thing.stop()
        except Exception:
            pass
    _started.clear()
    for folder in folders:
        kill_process_groups(folder)


def kill_process_groups(folder):
    """SIGKILLs every process group (but ours) holding a process whose command line names a file in `folder`:
    deploy commands a part left running after a kill -9 of the daemon, when it failed before a restart."""
    own = os.getpgrp()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            group = os.getpgid(int(pid))
            if folder.rstrip("/") + "/" in cmdline and group not in (own, 0, 1):
                os.killpg(group, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass  # gone meanwhile


class Sim:
    def __init__(self, d, *extra):
        self.port_file = os.path.join(d, "sim.port")
        self.p = subprocess.Popen([f"{BIN}/changegate-snowsim", "--port", "0", "--port-file", self.port_file, "--quiet", *extra],
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "sim.log"), "w"))
        _started.append(self)  # before the wait: a simulator that never listens is stopped too
        deadline = time.time() + 30
        while not (os.path.exists(self.port_file) and open(self.port_file).read().strip()):
            if time.time() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{open(self.port_file).read().strip()}"

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else {}

    def create(self, **fields):
        return self.call("POST", "/_sim/changes", fields)["number"]

    def state(self, number, state):
        self.call("POST", f"/_sim/changes/{number}/state", {"state": state})

    def changes(self, **query):
        q = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in query.items())
        return self.call("GET", "/_sim/changes" + (f"?{q}" if q else ""))["changes"]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait()


class Daemon:
    """`changegate daemon` on a config in `d`; restartable; optionally with a notify socket for watchdog checks."""

    def __init__(self, d, sim, projects, poll="500ms", database=None, watchdog_usec=None, log_level="info"):
        self.d = d
        self.db = database or os.path.join(d, "changegate.db")
        for name, value in (("cs", "sim-client-secret"), ("pw", "sim-password")):
            path = os.path.join(d, name)
            open(path, "w").write(value)
            os.chmod(path, 0o600)
        self.config = os.path.join(d, "changegate.toml")
        open(self.config, "w").write(f"""
[daemon]
database = "{self.db}"
poll_interval = "{poll}"
log_level = "{log_level}"
drain_timeout = "5s"

[servicenow.sim]
url = "{sim.base if sim else 'http://127.0.0.1:9'}"
client_id = "changegate"
client_secret_file = "{d}/cs"
username = "svc.changegate"
password_file = "{d}/pw"

[environments.Production]
change_controlled = true
[environments.Test]
change_controlled = false

{projects}
""")
        self.log_path = os.path.join(d, "daemon.log")
        self.p = None
        self.notify = None
        if watchdog_usec:
            self.notify = NotifySocket(os.path.join(d, "notify.sock"))
        self.watchdog_usec = watchdog_usec
        self.conn = None
        _started.append(self)

    def start(self):
        env = dict(os.environ)
        if self.notify:
            env["NOTIFY_SOCKET"] = self.notify.path
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self.p = subprocess.Popen([f"{BIN}/changegate", "daemon", "--config", self.config], env=env,
                                  stdout=open(self.log_path, "a"), stderr=subprocess.STDOUT)
        if env.get("WATCHDOG_USEC"):
            env["WATCHDOG_PID"] = str(self.p.pid)  # set after the fact is not possible; the daemon accepts a missing PID
        deadline = time.time() + 30
        while not os.path.exists(self.db + ".lock"):
            if time.time() > deadline:
                raise RuntimeError("daemon did not start:\n" + self.log())
            time.sleep(0.02)
        if self.conn is None:
            self.conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)

    def kill9(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def log(self):
        return open(self.log_path).read() if os.path.exists(self.log_path) else ""

    def q(self, sql, *args):
        return self.conn.execute(sql, args).fetchall()

    def insert(self, **cols):
        keys = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        return self.conn.execute(f"INSERT INTO deployments ({keys}) VALUES ({marks})", list(cols.values())).lastrowid

    def unfinished(self):
        return self.q("SELECT count(*) FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled')")[0][0]

    def wait_all_terminal(self, timeout):
        deadline = time.time() + timeout
        while self.unfinished() and time.time() < deadline:
            time.sleep(0.2)
        return self.unfinished() == 0


class NotifySocket:
    """A stand-in for systemd's notify socket: collects READY/STATUS/WATCHDOG datagrams with their times."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            for line in data.decode(errors="replace").splitlines():
                self.messages.append((time.time(), line))

    def pings_between(self, a, b):
        return [t for t, m in self.messages if m == "WATCHDOG=1" and a <= t <= b]

    def close(self):
        self.stopped = True


class Results:
    def __init__(self):
        self.rows = []
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, figure=""):
        self.rows.append((name, "PASS" if ok else "FAIL", str(figure)))
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def figure(self, name, value):
        self.rows.append((name, "", str(value)))

    def print(self):
        w = max(len(r[0]) for r in self.rows)
        print()
        print(f"{'check / figure'.ljust(w)}  result  value")
        print(f"{'-' * w}  ------  {'-' * 30}")
        for name, result, value in self.rows:
            print(f"{name.ljust(w)}  {result.ljust(6)}  {value}")
        print()
        print(f"reliability: {self.passed} passed, {self.failed} failed")


import urllib.parse  # noqa: E402  (used by Sim.changes)
