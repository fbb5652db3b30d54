import Foundation
import Synchronization
@testable import Executor

final class Lines: Sendable {
    let value = Mutex<[String]>([])
    func append(_ s: ChildStream, _ line: String) { value.withLock { $0.append("\(s.rawValue): \(line)") } }
    var all: [String] { value.withLock { $0 } }
}

func sh(_ script: String, env: [String: String] = [:]) -> CommandSpec {
    CommandSpec(arguments: ["/bin/sh", "-c", script], environment: ["PATH": "/usr/bin:/bin"].merging(env) { $1 })
}

/// `onSpawn` that releases the command at once.
let release: @Sendable (ChildIdentity) async -> Bool = { _ in true }

/// Running, not a zombie waiting for a reaper.
func alive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let stat = ProcStat(pid: pid) else { return false }
    return !stat.isZombie
}

/// Polls `condition` every 20 ms; false if it did not hold within `limit` (generous: the machine may be busy).
func eventually(within limit: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}

/// A fresh directory under /tmp, removed by `remove()` (call it in a `defer`).
struct TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "changegate-executor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Pids a script printed on its first stdout line (`echo $!` …), once it did.
func firstLinePids(_ lines: Lines) async -> [pid_t]? {
    guard await eventually({ !lines.all.isEmpty }) else { return nil }
    return lines.all[0].dropFirst("stdout: ".count).split(separator: " ").compactMap { pid_t($0) }
}

/// A value shared with the closures a test hands to `GuardedRun` (a Mutex itself cannot be captured across tasks).
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    var get: Value { value.withLock { $0 } }
}
