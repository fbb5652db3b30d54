import Foundation
import Synchronization

/// How many requests one connection may still send, so that polling stays within the hourly limit ServiceNow
/// instances enforce per user. A token bucket: it refills at 90 % of the hourly limit and holds at most 10 % of it,
/// so no sliding hour sees more than the limit from polls. Every request is counted (the transport spends one per
/// attempt that may have reached the instance), but only polls wait for tokens: re-checks of running deployments,
/// creates and updates are never held back, they only leave less for the polls. The bucket never goes deeper than
/// one token into debt: a burst of such work (a thousand deployments queued at once) must not silence the poll
/// for hours, only slow it to the refill rate.
public final class RequestBudget: Sendable {
    public struct Figures: Sendable, Equatable {
        /// The limit in force: the configured one, or the instance's `X-RateLimit-Limit` when lower.
        public var perHour: Int
        /// Whether the instance announced a limit lower than the configured one.
        public var fromInstance: Bool
        /// Requests counted in the last hour (attempts that may have reached the instance).
        public var lastHour: Int
        /// Tokens left now (may be negative after unthrottled work).
        public var available: Double
    }

    private struct State {
        var configured: Int
        var instanceLimit: Int?
        var tokens: Double
        var refilledAt: Date
        /// Request times in the last hour, oldest first, for the figures (not for the decision).
        var recent: [Date] = []
        var pausedUntil: Date?
    }

    private let state: Mutex<State>

    public init(perHour: Int, now: Date = Date()) {
        let limit = max(1, perHour)
        state = Mutex(State(configured: limit, tokens: Double(limit) * Self.burstShare, refilledAt: now))
    }

    static let burstShare = 0.1
    static let refillShare = 0.9
    /// The reconcile may use at most this share of the budget; with many watched changes its interval stretches.
    static let reconcileShare = 0.5

    /// One request was sent (or may have been) at `now`.
    public func spend(at now: Date = Date()) {
        state.withLock { s in
            Self.refill(&s, now: now)
            s.tokens = max(-1, s.tokens - 1)
            s.recent.append(now)
            Self.trim(&s, now: now)
        }
    }

    /// `X-RateLimit-Limit` (requests per hour of the rule that applies) and, on a 429, until when to stop polling.
    public func instanceReported(limit: Int?, retryAt: Date?, now: Date = Date()) {
        state.withLock { s in
            if let limit, limit > 0 {
                Self.refill(&s, now: now)
                s.instanceLimit = limit
                s.tokens = min(s.tokens, Double(Self.limit(s)) * Self.burstShare)
            }
            if let retryAt, retryAt > now { s.pausedUntil = max(s.pausedUntil ?? retryAt, retryAt) }
        }
    }

    /// The earliest time at or after `due` when a poll may start: when a token is there. A reconcile (`priority`)
    /// goes when the bucket is merely not in debt, a step ahead of a delta.
    public func pollStart(due: Date, priority: Bool = false) -> Date {
        state.withLock { s in
            Self.refill(&s, now: due)
            let limit = Double(Self.limit(s))
            let need = (priority ? 0 : 1) - s.tokens
            var start = need <= 0 ? due : due.addingTimeInterval(need / (limit * Self.refillShare / 3600))
            if let paused = s.pausedUntil, paused > start { start = paused }
            return start
        }
    }

    /// How often a reconcile of `requests` requests may run: `base`, or less often when that would spend more than
    /// half the budget (at 10,000 watched changes and 3,000 an hour: every 4 minutes instead of every minute).
    public func reconcileInterval(base: TimeInterval, requests: Int) -> TimeInterval {
        let limit = state.withLock { Double(Self.limit($0)) }
        return max(base, Double(requests) * 3600 / (limit * Self.reconcileShare))
    }

    public func figures(now: Date = Date()) -> Figures {
        state.withLock { s in
            Self.refill(&s, now: now)
            Self.trim(&s, now: now)
            let limit = Self.limit(s)
            return Figures(perHour: limit, fromInstance: limit < s.configured, lastHour: s.recent.count, available: s.tokens)
        }
    }

    private static func limit(_ s: State) -> Int { min(s.configured, s.instanceLimit ?? Int.max) }

    private static func refill(_ s: inout State, now: Date) {
        let elapsed = now.timeIntervalSince(s.refilledAt)
        guard elapsed > 0 else { return }
        let limit = Double(limit(s))
        s.tokens = min(limit * burstShare, s.tokens + elapsed * limit * refillShare / 3600)
        s.refilledAt = now
    }

    private static func trim(_ s: inout State, now: Date) {
        let cutoff = now.addingTimeInterval(-3600)
        if let i = s.recent.firstIndex(where: { $0 > cutoff }) {
            if i > 0 { s.recent.removeFirst(i) }
        } else {
            s.recent.removeAll()
        }
    }
}
