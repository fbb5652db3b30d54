"""The failover figure for `make bench`: three daemons on one PostgreSQL queue with the default lease; the leader
is killed with SIGKILL, again and again, and the time until a standby leads is measured."""
import glob, os, pwd, shutil, signal, socket, subprocess, tempfile, time

BIN = os.environ.get("CHANGEGATE_BIN_DIR", ".build/release")


def pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are missing: apt-get install postgresql")
    return os.path.dirname(found[-1])


class Cluster:
    """initdb in a temporary folder, a server on a free loopback port; as root it runs as `postgres`."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = tempfile.mkdtemp(prefix="cg-bench-pg-", dir="/tmp")
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if self.run_as:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.password = "bench-password"
        pwfile = os.path.join(self.dir, "pwfile")
        open(pwfile, "w").write(self.password)
        if self.run_as:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._tool("initdb", "-D", f"{self.dir}/data", "-U", "postgres", f"--pwfile={pwfile}", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        self._tool("pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "-o",
                   f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.psql("CREATE DATABASE changegate", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/changegate?sslmode=disable"

    def _tool(self, name, *args):
        subprocess.run(self.run_as + [f"{self.bin}/{name}", *args], cwd="/tmp", check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def psql(self, sql, db="changegate"):
        out = subprocess.run([f"{self.bin}/psql", "-X", "-q", "-t", "-A", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                              "-d", db, "-c", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self):
        subprocess.run(self.run_as + [f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop"], cwd="/tmp",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_failover(samples):
    """Seconds from SIGKILL of the leader to a standby holding the lease, per sample."""
    cluster = Cluster()
    work = tempfile.mkdtemp(prefix="cg-bench-ha-")
    procs = {}
    try:
        pwfile = os.path.join(work, "db-password")
        open(pwfile, "w").write(cluster.password)
        os.chmod(pwfile, 0o600)
        config = os.path.join(work, "changegate.toml")
        open(config, "w").write(f"""
[daemon]
database = "{cluster.url}"
database_password_file = "{pwfile}"
log_level = "warning"

[environments.Test]
change_controlled = false

[projects.web]
change_controlled = false
command = ["/bin/true"]
""")
        log = open(os.path.join(work, "daemons.log"), "a")

        def start(i):
            procs[i] = subprocess.Popen([f"{BIN}/changegate", "daemon", "--config", config], stdout=log, stderr=log)

        for i in range(3):
            start(i)

        def lease():
            epoch, pid = cluster.psql("SELECT epoch || ' ' || CASE WHEN expires_at > now() THEN pid ELSE 0 END FROM leader_lease").split()
            return int(epoch), int(pid)

        def wait_for(check, timeout=60):
            end = time.time() + timeout
            while time.time() < end:
                try:
                    value = check()
                    if value:
                        return value
                except (subprocess.CalledProcessError, ValueError):
                    pass
                time.sleep(0.02)
            raise RuntimeError("no leader; see " + log.name)

        times = []
        for _ in range(samples):
            epoch, pid = wait_for(lambda: (lambda e, p: (e, p) if p else None)(*lease()))
            time.sleep(3)  # standbys settled, the lease renewed at some point of its cycle
            victim = next(i for i, p in procs.items() if p.pid == pid)
            killed = time.time()
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            wait_for(lambda: (lambda e, p: p and e > epoch)(*lease()))
            times.append(time.time() - killed)
            start(victim)
        return times
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
