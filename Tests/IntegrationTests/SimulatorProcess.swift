import Foundation

/// The built `changegate-snowsim`, started on a free loopback port.
final class SimulatorProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let dir: String

    let host: String
    var base: String { "http://\(host):\(port)" }

    /// `host`: the address to bind, loopback unless a test's network namespace must reach it.
    init(host: String = "127.0.0.1", extraArguments: [String] = []) async throws {
        self.host = host
        dir = try tempDirectory("sim")
        let portFile = "\(dir)/port"
        process.executableURL = URL(fileURLWithPath: Binaries.simulator)
        process.arguments = ["--host", host, "--port", "0", "--port-file", portFile, "--quiet"] + extraArguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        var found: Int?
        // `deinit` does not run for an instance whose `init` throws before `port` is set: clean up here.
        do {
            try process.run()
            try await eventually("the simulator to listen", timeout: .seconds(20), every: .milliseconds(50)) {
                found = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                return found != nil
            }
        } catch {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        port = found!
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    /// Runs when the test ends, passed or failed.
    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: control API

    func createChange(_ fields: [String: Any]) async throws -> [String: Any] {
        try await HTTP.json(.POST, "\(base)/_sim/changes", body: fields) as! [String: Any]
    }

    func change(_ number: String) async throws -> [String: Any] {
        try await HTTP.json(.GET, "\(base)/_sim/changes/\(number)") as! [String: Any]
    }

    func changes(correlationID: String? = nil) async throws -> [[String: Any]] {
        let q = correlationID.map { "?correlation_id=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)" } ?? ""
        let r = try await HTTP.json(.GET, "\(base)/_sim/changes\(q)") as! [String: Any]
        return r["changes"] as! [[String: Any]]
    }

    func setState(_ number: String, _ state: Int, extra: [String: Any] = [:]) async throws {
        _ = try await HTTP.json(.POST, "\(base)/_sim/changes/\(number)/state", body: extra.merging(["state": state]) { $1 })
    }

    func approve(_ number: String, as approver: String) async throws {
        _ = try await HTTP.json(.POST, "\(base)/_sim/changes/\(number)/approve", body: ["approver": approver])
    }

    func reject(_ number: String, as approver: String, comments: String) async throws {
        _ = try await HTTP.json(.POST, "\(base)/_sim/changes/\(number)/reject", body: ["approver": approver, "comments": comments])
    }

    func faults(_ body: [String: Any]) async throws {
        _ = try await HTTP.json(.PUT, "\(base)/_sim/faults", body: body)
    }

    func requests() async throws -> [String: Any] {
        try await HTTP.json(.GET, "\(base)/_sim/requests") as! [String: Any]
    }

    func resetRequests() async throws {
        _ = try await HTTP.json(.DELETE, "\(base)/_sim/requests")
    }

    /// Total API requests (OAuth included).
    func requestTotal() async throws -> Int { try await requests()["total"] as! Int }

    func count(_ endpoint: String) async throws -> Int {
        ((try await requests()["by_endpoint"] as? [String: Any])?[endpoint] as? Int) ?? 0
    }
}
