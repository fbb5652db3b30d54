import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Talks to the service manager through `sd_notify(3)`.
///
/// Every call is a no-op when the process was not started by systemd with a notify socket, so the daemon can call
/// these unconditionally (e.g. when run by hand in a terminal). The environment is never unset: the daemon notifies
/// for its whole life. Children must not inherit the socket: give them an environment of their own.
public struct SystemdNotifier: Sendable {
    private enum Transport: Sendable {
        case systemd
        case custom(@Sendable (String) -> Void)
    }

    private let transport: Transport

    /// Notifies the service manager named in `NOTIFY_SOCKET`, if any.
    public init() {
        self.transport = .systemd
    }

    /// Hands every notification (e.g. `"READY=1"`) to `sink` instead of systemd; for tests and dry runs.
    public init(sink: @escaping @Sendable (String) -> Void) {
        self.transport = .custom(sink)
    }

    /// True when there is someone to notify (`NOTIFY_SOCKET` is set, or a custom sink is used).
    public var isActive: Bool {
        switch transport {
        case .systemd: return getenv("NOTIFY_SOCKET") != nil
        case .custom: return true
        }
    }

    /// The unit's `WatchdogSec=` as passed in `WATCHDOG_USEC` (only if `WATCHDOG_PID` is unset or is this process).
    /// `nil` when no watchdog is configured. A custom-sink notifier reports `nil`.
    public var watchdogInterval: Duration? {
        guard case .systemd = transport else { return nil }
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// Sends raw assignments such as `"READY=1\nSTATUS=idle"`. Returns false when nothing was sent (not under
    /// systemd) or sending failed; notifications are best effort, the daemon must not stop because of them.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        switch transport {
        case .systemd:
            return sd_notify(0, state) > 0
        case .custom(let sink):
            sink(state)
            return true
        }
    }

    /// Start-up finished: with `Type=notify` systemd considers the unit started only now.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        notify(status.map { "READY=1\nSTATUS=\(Self.oneLine($0))" } ?? "READY=1")
    }

    /// Free-form status shown by `systemctl status` (one line; newlines would end the assignment).
    @discardableResult
    public func status(_ text: String) -> Bool {
        notify("STATUS=\(Self.oneLine(text))")
    }

    /// Keep-alive for `WatchdogSec=`; call through ``WatchdogService`` so a stuck loop stops the pings.
    @discardableResult
    public func watchdogPing() -> Bool {
        notify("WATCHDOG=1")
    }

    /// Shutdown has begun (e.g. draining a deployment); `TimeoutStopSec=` applies from now.
    @discardableResult
    public func stopping(status: String? = nil) -> Bool {
        notify(status.map { "STOPPING=1\nSTATUS=\(Self.oneLine($0))" } ?? "STOPPING=1")
    }

    /// Reload has begun; send ``ready(status:)`` when it is done. `MONOTONIC_USEC=` is required by
    /// `Type=notify-reload` (systemd 253+) and ignored by older managers.
    @discardableResult
    public func reloading() -> Bool {
        notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// Asks for more time in the current start/stop phase (`EXTEND_TIMEOUT_USEC=`), e.g. while a deployment drains.
    @discardableResult
    public func extendTimeout(_ duration: Duration) -> Bool {
        notify("EXTEND_TIMEOUT_USEC=\(Self.microseconds(duration))")
    }

    static func oneLine(_ text: String) -> String {
        text.replacingNewlines()
    }

    static func microseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(0, seconds &* 1_000_000 &+ attoseconds / 1_000_000_000_000)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }
}

extension String {
    /// Replaces CR/LF with spaces (notify assignments and status lines are newline-terminated).
    func replacingNewlines() -> String {
        guard contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return self }
        return String(map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}
