import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who the child is, precisely enough to recognise it after a daemon restart (pid reuse, reboot).
public struct ChildIdentity: Sendable, Equatable {
    /// Also the process group id: the child leads its own group.
    public var pid: Int32
    /// `/proc/<pid>/stat` field 22 (starttime): a reused pid has another.
    public var startTicks: UInt64
    /// `/proc/sys/kernel/random/boot_id`: nothing of a previous boot survives.
    public var bootID: String

    public init(pid: Int32, startTicks: UInt64, bootID: String) {
        self.pid = pid
        self.startTicks = startTicks
        self.bootID = bootID
    }

    /// The identity of the running (or not yet reaped) process `pid`; nil if there is none.
    public static func of(pid: Int32) -> ChildIdentity? {
        guard let stat = ProcStat(pid: pid), let boot = currentBootID else { return nil }
        return ChildIdentity(pid: pid, startTicks: stat.startTicks, bootID: boot)
    }

    /// One-line text form for a database column: `pid=123 start=456 boot=<uuid>`.
    public var recorded: String { "pid=\(pid) start=\(startTicks) boot=\(bootID)" }

    public init?(recorded: String) {
        let fields = recorded.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0].hasPrefix("pid="), fields[1].hasPrefix("start="), fields[2].hasPrefix("boot="),
              let pid = Int32(fields[0].dropFirst(4)), pid > 0,
              let start = UInt64(fields[1].dropFirst(6)) else { return nil }
        let boot = String(fields[2].dropFirst(5))
        guard !boot.isEmpty else { return nil }
        self.init(pid: pid, startTicks: start, bootID: boot)
    }

    /// Read once: the boot id cannot change while this process lives. Under `ProcSubset=pid` /proc/sys is
    /// hidden; the unit then passes systemd's `%b` in `CHANGEGATE_BOOT_ID`. Both forms are read as 32 hex digits.
    static let currentBootID: String? = {
        let text = readProcFile("/proc/sys/kernel/random/boot_id").map { String(decoding: $0, as: UTF8.self) }
            ?? ProcessInfo.processInfo.environment["CHANGEGATE_BOOT_ID"]
        let digits = text.map { String($0.lowercased().filter(\.isHexDigit)) }
        return digits?.count == 32 ? digits : nil
    }()
}

/// The fields of `/proc/<pid>/stat` the executor needs.
struct ProcStat {
    /// R, S, D, Z (zombie: exited, not yet reaped), …
    var state: UInt8
    var processGroup: Int32
    var startTicks: UInt64

    init?(pid: Int32) {
        guard let bytes = readProcFile("/proc/\(pid)/stat"),
              // The command name (field 2) may hold spaces and parentheses: the fields start after its last ')'.
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22 (starttime).
        guard fields.count > 19, let state = fields[0].first,
              let group = Int32(String(decoding: fields[2], as: UTF8.self)),
              let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        self.state = state
        self.processGroup = group
        self.startTicks = start
    }

    var isZombie: Bool { state == UInt8(ascii: "Z") || state == UInt8(ascii: "X") }
}

/// Whether process group `group` still has a member that runs. Zombies do not count: they have exited and only wait
/// for their parent to reap them (a zombie leader keeps `kill(-group, 0)` succeeding until it is reaped).
func groupHasRunningMembers(_ group: Int32) -> Bool {
    guard kill(-group, 0) == 0 || errno == EPERM else { return false }
    guard let dir = opendir("/proc") else { return true }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = Int32(name), let stat = ProcStat(pid: pid) else { continue }
        if stat.processGroup == group && !stat.isZombie { return true }
    }
    return false
}

/// Reads a small file whole with plain syscalls (`/proc` files report size 0, and this runs on every spawn).
func readProcFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            result.append(contentsOf: chunk[0..<n])
        } else if n == 0 {
            return result
        } else if errno != EINTR {
            return nil
        }
    }
}

private extension String {
    func trimmingSuffix(while predicate: (Character) -> Bool) -> String {
        var s = Substring(self)
        while let last = s.last, predicate(last) { s = s.dropLast() }
        return String(s)
    }
}
