import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Where the built binaries are: `CHANGEGATE_BIN_DIR` (set by `make test`) or `.build/debug`.
enum Binaries {
    static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["CHANGEGATE_BIN_DIR"], !dir.isEmpty { return dir }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }
    static var changegate: String { "\(directory)/changegate" }
    static var simulator: String { "\(directory)/changegate-snowsim" }
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion, capturing its output.
@discardableResult
func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// The real sqlite3 CLI, as producers use it.
@discardableResult
func sqlite3(_ db: String, _ sql: String) throws -> String {
    let r = try run("/usr/bin/sqlite3", ["-cmd", ".timeout 10000", db, sql])
    guard r.status == 0 else { throw HarnessError("sqlite3 failed (\(r.status)): \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Inserts a row with the sqlite3 CLI and returns its id.
func insert(_ db: String, _ columns: [String: String?]) throws -> Int64 {
    let keys = columns.keys.sorted()
    let values = keys.map { k in columns[k]!.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL" }
    let out = try sqlite3(db, "INSERT INTO deployments (\(keys.joined(separator: ", "))) VALUES (\(values.joined(separator: ", "))); SELECT last_insert_rowid();")
    guard let id = Int64(out) else { throw HarnessError("no row id from sqlite3: \(out)") }
    return id
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ what: String, timeout: Duration = .seconds(30), every: Duration = .milliseconds(100),
                _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: every)
    }
    throw HarnessError("timed out after \(timeout) waiting for: \(what)")
}

/// A fresh folder for one test's files; its owner (DaemonProcess, SimulatorProcess) removes it in `deinit`.
func tempDirectory(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-it-\(name)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// JSON over HTTP with the shared AsyncHTTPClient.
enum HTTP {
    static func json(_ method: HTTPMethod, _ url: String, body: [String: Any]? = nil) async throws -> Any {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw HarnessError("\(method) \(url) → \(response.status.code): \(String(decoding: data, as: UTF8.self))")
        }
        return data.isEmpty ? [:] : try JSONSerialization.jsonObject(with: data)
    }
}

/// The process is gone or a zombie (an orphan waits for its reaper, which may be slow in a container).
func processGone(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return stat.contains(") Z ")
}

/// SIGKILLs every process group (other than ours) holding a process whose command line names a file in `dir`:
/// the deploy scripts a test wrote there, and their children. A test that fails after `kill -9` of the
/// daemon would otherwise leave its deploy commands running.
func killProcessGroups(under dir: String) {
    let own = getpgrp()
    for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? [] {
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmdline, as: UTF8.self).contains(dir + "/") else { continue }
        let group = getpgid(pid)
        if group > 1 && group != own { kill(-group, SIGKILL) }
    }
}
