import Foundation

/// The scheduler's time: the wall clock in production, a hand-driven one in tests.
/// Deadlines are wall-clock times (a change's window is); the loop never sleeps longer than its idle cap,
/// so a clock step delays a deadline by at most that cap.
public protocol SchedulerClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` or later; throws when the calling task is cancelled.
    func sleep(until deadline: Date) async throws
}

public struct SystemClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded(.up)))) }
    }
}
