import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PostgreSQL cluster for tests: `initdb` in a temp folder, a server on a free loopback port with
/// its socket in that folder, and everything stopped and removed afterwards, also when the test fails.
/// It never touches the host's own clusters (no pg_ctlcluster, nothing under /var/lib/postgresql).
///
/// initdb refuses to run as root, so as root the server runs as the `postgres` user (`runuser`), which Debian's
/// package creates; otherwise as the current user. Missing binaries are an error, not a skip: CI installs them
/// (`scripts/install-deps.sh`), and a test that silently skips proves nothing.
public final class PostgresCluster: Sendable {
    public let directory: String
    public let port: Int
    /// The superuser, with `password` for TCP logins (scram-sha-256); socket logins are trusted.
    public let superuser = "postgres"
    public let password = "cluster-test-password"
    let binaries: String
    let runAs: String?

    /// Where the server binaries are: `$CHANGEGATE_PG_BIN`, else the newest /usr/lib/postgresql/N/bin.
    public static func binaryDirectory() throws -> String {
        if let dir = ProcessInfo.processInfo.environment["CHANGEGATE_PG_BIN"], !dir.isEmpty { return dir }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for v in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/initdb") {
            return "\(root)/\(v)/bin"
        }
        throw ClusterError("""
            PostgreSQL's server binaries are not installed (no \(root)/N/bin/initdb); the PostgreSQL tests need them. \
            Install them with `apt-get install postgresql` (scripts/install-deps.sh does), or set CHANGEGATE_PG_BIN.
            """)
    }

    /// Runs `body` with a started cluster and removes it afterwards, whatever `body` does.
    /// Starting and stopping wait seconds for initdb and pg_ctl: that happens on a thread of its own, never on
    /// the few threads of the cooperative pool, which the other tests running meanwhile need.
    /// `listen`: addresses beside 127.0.0.1 the server listens on, `clients`: networks (CIDR) allowed to log in
    /// with the password from there (a test's network namespace).
    public static func with<Result>(listen: [String] = [], clients: [String] = [],
                                    _ body: (PostgresCluster) async throws -> Result) async throws -> Result {
        let cluster = try await offPool { try start(listen: listen, clients: clients) }
        do {
            let result = try await body(cluster)
            await offPool { cluster.stop() }
            return result
        } catch {
            await offPool { cluster.stop() }
            throw error
        }
    }

    /// Runs blocking work on a new thread and awaits it.
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    public static func offPool(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            Thread { work(); continuation.resume() }.start()
        }
    }

    public static func start(listen: [String] = [], clients: [String] = []) throws -> PostgresCluster {
        let binaries = try binaryDirectory()
        let runAs: String? = getuid() == 0 ? "postgres" : nil
        var owner: (uid_t, gid_t)?
        if let runAs {
            guard let pw = getpwnam(runAs) else {
                throw ClusterError("running as root, the test cluster needs the user \(runAs) (initdb refuses root); install postgresql or run the tests as another user")
            }
            owner = (pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        var template = Array("/tmp/cg-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ClusterError("cannot create a temp folder: \(String(cString: strerror(errno)))") }
        let directory = String(cString: made)
        if let (uid, gid) = owner { _ = chown(directory, uid, gid) }
        let password = "cluster-test-password"
        do {
            try password.write(toFile: "\(directory)/pwfile", atomically: false, encoding: .utf8)
            if let (uid, gid) = owner { _ = chown("\(directory)/pwfile", uid, gid) }
            try Self.run(runAs, "\(binaries)/initdb", ["-D", "\(directory)/data", "-U", "postgres", "--pwfile=\(directory)/pwfile",
                                                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"])
            if !clients.isEmpty {
                let hba = "\(directory)/data/pg_hba.conf"
                let lines = clients.map { "host all all \($0) scram-sha-256\n" }.joined()
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: hba))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(lines.utf8))
                try handle.close()
            }
            let addresses = (["127.0.0.1"] + listen).joined(separator: ",")
            // A port taken between the probe and the start (another test's cluster) is retried with another.
            var lastError: (any Error)?
            for _ in 0..<5 {
                let port = try freeLoopbackPort()
                do {
                    try Self.run(runAs, "\(binaries)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60", "-o",
                                                              "-k \(directory) -p \(port) -c listen_addresses=\(addresses) -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                                                              "start"])
                    return PostgresCluster(directory: directory, port: port, binaries: binaries, runAs: runAs)
                } catch {
                    lastError = error
                }
            }
            throw lastError ?? ClusterError("the server did not start")
        } catch {
            let log = (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? ""
            _ = try? Self.run(runAs, "\(binaries)/pg_ctl", ["-D", "\(directory)/data", "-m", "immediate", "stop"])
            try? FileManager.default.removeItem(atPath: directory)
            throw ClusterError("\(error)\n\(log.suffix(2000))")
        }
    }

    init(directory: String, port: Int, binaries: String, runAs: String?) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
        self.runAs = runAs
    }

    /// Stops the server at once (its data is thrown away anyway) and removes the folder.
    public func stop() {
        _ = try? Self.run(runAs, "\(binaries)/pg_ctl", ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new, empty database.
    public func createDatabase(_ name: String) throws {
        try psql("CREATE DATABASE \(name)", database: "postgres")
    }

    /// Runs SQL with the real `psql`, over the socket, as `user` (trusted locally); returns its output, unaligned.
    /// Throws with psql's error text when the SQL fails (ON_ERROR_STOP).
    @discardableResult
    public func psql(_ sql: String, database: String, user: String = "postgres") throws -> String {
        let r = try Self.capture("\(binaries)/psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)",
                                                      "-U", user, "-d", database, "-c", sql])
        guard r.status == 0 else { throw ClusterError("psql failed (\(r.status)): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a psql script (meta-commands such as `\connect` allowed) from a file, as `psql -f` does.
    public func psql(script: String, database: String, user: String = "postgres") throws {
        let file = "\(directory)/script-\(UUID().uuidString).sql"
        try script.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let r = try Self.capture("\(binaries)/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)",
                                                      "-U", user, "-d", database, "-f", file])
        guard r.status == 0 else { throw ClusterError("psql -f failed (\(r.status)): \(r.stderr)") }
    }

    /// The server's log, for failure messages.
    public var serverLog: String { (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? "" }

    static func run(_ user: String?, _ tool: String, _ arguments: [String]) throws {
        let (path, args) = user.map { ("/usr/sbin/runuser", ["-u", $0, "--", tool] + arguments) } ?? (tool, arguments)
        let r = try capture(path, args)
        guard r.status == 0 else { throw ClusterError("\((tool as NSString).lastPathComponent) failed (\(r.status)): \(r.stderr)\(r.stdout)") }
    }

    /// Runs a tool to its end and returns its status and output. posix_spawn and waitpid, not Foundation's
    /// `Process`: that one learns of the exit through a descriptor the child inherits, and the server `pg_ctl start`
    /// leaves behind keeps it open, so it never returned. Output goes to files, not pipes, for the same reason, and
    /// the child gets no other descriptor of this process (`spawnKeepingOnlyStandardDescriptors`): the server lives
    /// for the whole test, and what it kept of another test's would block that test as long.
    public static func capture(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let base = NSTemporaryDirectory() + "cg-pg-out-\(UUID().uuidString)"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        // Started in /tmp (`env -C`): runuser's user may not read the test's working folder.
        let pid: pid_t
        do {
            pid = try spawnKeepingOnlyStandardDescriptors("/usr/bin/env", ["-C", "/tmp", path] + arguments,
                                                          stdout: base + ".out", stderr: base + ".err")
        } catch {
            throw ClusterError("\(error)")
        }
        let code = try waitForExit(pid)
        let o = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let e = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return (code, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

}

public struct ClusterError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
