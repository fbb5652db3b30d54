import Foundation

/// A network namespace joined to this host by a veth pair, so a daemon in it is another host as far as the
/// network goes: `cut()` takes the host's end down (no reset, no error: packets just stop, as in a partition),
/// `heal()` brings it back. Removed, with its veth pair, when the test ends; `ip` needs root.
final class NetworkNamespace: @unchecked Sendable {
    let name: String
    let hostInterface: String
    /// This host's address on the link, and the namespace's.
    let hostAddress: String, address: String
    /// The link's network, for the server's `pg_hba.conf`.
    var network: String { "\(prefix).0/30" }
    private let prefix: String
    /// Prefix a command with this to run it inside (`ip netns exec` execs it, so its pid is the command's).
    var launcher: [String] { [Self.tool, "netns", "exec", name] }

    /// iproute2's `ip` (scripts/install-deps.sh installs it), wherever this system's layout puts it.
    static let tool = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    init() throws {
        let tag = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(6)).lowercased()
        name = "cg-test-\(tag)"
        hostInterface = "cgh\(tag)"
        let peer = "cgn\(tag)"
        // 10.213.x.0/30 with x from the tag: one link per test, tests of this kind run one at a time.
        prefix = "10.213.\(Int(tag.prefix(2), radix: 16)! % 250 + 1)"
        hostAddress = "\(prefix).1"
        address = "\(prefix).2"
        do {
            try Self.ip(["netns", "add", name])
            try Self.ip(["link", "add", hostInterface, "type", "veth", "peer", "name", peer])
            try Self.ip(["link", "set", peer, "netns", name])
            try Self.ip(["addr", "add", "\(hostAddress)/30", "dev", hostInterface])
            try Self.ip(["link", "set", hostInterface, "up"])
            try Self.ip(["netns", "exec", name, Self.tool, "addr", "add", "\(address)/30", "dev", peer])
            try Self.ip(["netns", "exec", name, Self.tool, "link", "set", peer, "up"])
            try Self.ip(["netns", "exec", name, Self.tool, "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    func cut() throws { try Self.ip(["link", "set", hostInterface, "down"]) }
    func heal() throws { try Self.ip(["link", "set", hostInterface, "up"]) }

    /// Deleting the namespace deletes its end of the pair, and with it the host's end.
    private func remove() {
        _ = try? run(Self.tool, ["netns", "delete", name])
        _ = try? run(Self.tool, ["link", "delete", hostInterface])
    }

    deinit { remove() }

    static func ip(_ arguments: [String]) throws {
        let r = try run(tool, arguments)
        guard r.status == 0 else { throw HarnessError("ip \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.stderr)") }
    }
}
