import Foundation
import PostgresNIO
import QueueStore
import Synchronization

/// Who a daemon is, among the daemons sharing a queue.
public struct DaemonIdentity: Sendable, Equatable {
    /// Random per start: a restarted daemon is a new holder, so it can never mistake an old lease for its own.
    public var holder: String
    public var host: String
    public var pid: Int64

    public init(holder: String = UUID().uuidString.lowercased(), host: String = ProcessInfo.processInfo.hostName,
                pid: Int64 = Int64(ProcessInfo.processInfo.processIdentifier)) {
        self.holder = holder
        self.host = host
        self.pid = pid
    }
}

/// The lease row as the server sees it now.
public struct LeaseHolder: Sendable, Equatable {
    public var epoch: Int64
    public var holder: String
    public var host: String
    public var pid: Int64
    /// Left on the lease by the server's clock; zero or less when it has run out.
    public var remaining: Duration

    public var isHeld: Bool { epoch > 0 && remaining > .zero }
    /// "host-b (pid 42, epoch 7)", or "nobody" when the lease is free or ran out.
    public var summary: String { isHeld ? "\(host) (pid \(pid), epoch \(epoch))" : "nobody" + (epoch > 0 ? " (epoch \(epoch) ran out)" : "") }
}

/// What a daemon may write with: its epoch, and until when (this host's monotonic clock) it may trust it.
public struct LeaseFence: Sendable, Equatable {
    public var epoch: Int64
    public var holder: String
    /// A renewal sent at t makes the lease last to at least t + lease on the server; writes stop earlier than that.
    public var writableUntil: ContinuousClock.Instant

    public init(epoch: Int64, holder: String, writableUntil: ContinuousClock.Instant) {
        self.epoch = epoch
        self.holder = holder
        self.writableUntil = writableUntil
    }
}

/// The leader lease: one row, `leader_lease`, with times by the server's clock. A daemon takes it when it is free
/// or ran out (the epoch grows by one), renews it while it leads, and gives it up when it stops. Every write of
/// the store checks the fence inside its transaction (`SELECT … FOR KEY SHARE` on the row), so a write of an old
/// leader is refused once a newer epoch exists, and a takeover waits for a write already under way.
extension PostgresQueueStore {
    public enum Attempt: Sendable, Equatable {
        /// This daemon leads now with `epoch`; `previous` held it before (nobody on a new queue).
        case acquired(epoch: Int64, previous: LeaseHolder)
        case heldBy(LeaseHolder)
    }

    /// Takes the lease if it is free or has run out.
    public func tryAcquireLease(as me: DaemonIdentity, lease: Duration) async throws(QueueStoreError) -> Attempt {
        let seconds = Self.seconds(lease), logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                // Never queue behind a session that holds the row (a leader frozen inside a write): the next try
                // comes within a second, by when the server has ended that session.
                try await connection.query("SET LOCAL lock_timeout = '500ms'", logger: logger)
                let before = try await Self.holder(connection, logger: logger, lock: true)
                guard !before.isHeld else { return .heldBy(before) }
                let rows = try await connection.query("""
                    UPDATE leader_lease SET epoch = epoch + 1, holder = \(me.holder), host = \(me.host), pid = \(me.pid),
                        acquired_at = now(), renewed_at = now(), expires_at = now() + make_interval(secs => \(seconds))
                    WHERE id = 1 RETURNING epoch
                    """, logger: logger).collect()
                return .acquired(epoch: try rows[0].decode(Int64.self), previous: before)
            }
        } catch {
            if Self.isLockTimeout(error) { return .heldBy(try await leaseHolder()) }
            throw wrap(error)
        }
    }

    /// SQLSTATE 55P03: `lock_timeout` ran out.
    static func isLockTimeout(_ error: any Error) -> Bool {
        if let t = error as? PostgresTransactionError, let inner = t.closureError ?? t.beginError ?? t.commitError { return isLockTimeout(inner) }
        return (error as? PSQLError)?.serverInfo?[.sqlState] == "55P03"
    }

    /// Extends this daemon's lease; false when the row no longer holds its epoch (someone took over).
    public func renewLease(epoch: Int64, as me: DaemonIdentity, lease: Duration) async throws(QueueStoreError) -> Bool {
        let seconds = Self.seconds(lease)
        do {
            let rows = try await client.query("""
                UPDATE leader_lease SET renewed_at = now(), expires_at = now() + make_interval(secs => \(seconds))
                WHERE id = 1 AND epoch = \(epoch) AND holder = \(me.holder) RETURNING epoch
                """, logger: logger).collect()
            return !rows.isEmpty
        } catch {
            throw wrap(error)
        }
    }

    /// Ends this daemon's lease at once (a clean stop), so a standby need not wait for it to run out.
    public func releaseLease(epoch: Int64, as me: DaemonIdentity) async throws(QueueStoreError) {
        try await execute("UPDATE leader_lease SET expires_at = '-infinity' WHERE id = 1 AND epoch = \(epoch) AND holder = \(me.holder)")
    }

    public func leaseHolder() async throws(QueueStoreError) -> LeaseHolder {
        let logger = self.logger
        do {
            return try await client.withConnection { connection in try await Self.holder(connection, logger: logger, lock: false) }
        } catch {
            throw wrap(error)
        }
    }

    /// Records that `me` is there in `role` (leader, standby), for `changegate status`; a stopping daemon removes itself.
    public func noteDaemon(_ me: DaemonIdentity, role: String?) async throws(QueueStoreError) {
        if let role {
            try await execute("""
                INSERT INTO daemons (holder, host, pid, role, seen_at) VALUES (\(me.holder), \(me.host), \(me.pid), \(role), now())
                ON CONFLICT (holder) DO UPDATE SET role = excluded.role, seen_at = excluded.seen_at
                """)
            // Daemons not heard of for a minute are gone (killed): they are not listed for ever.
            try await execute("DELETE FROM daemons WHERE seen_at < now() - interval '60 seconds'")
        } else {
            try await execute("DELETE FROM daemons WHERE holder = \(me.holder)")
        }
    }

    /// The daemons heard of in the last minute: host, pid, role, and seconds since.
    public func daemons() async throws(QueueStoreError) -> [(host: String, pid: Int64, role: String, secondsAgo: Double)] {
        do {
            return try await client.query("""
                SELECT host, pid, role, extract(epoch FROM now() - seen_at)::float8 FROM daemons ORDER BY role, host, pid
                """, logger: logger).collect().map { try $0.decode((String, Int64, String, Double).self) }
        } catch {
            throw wrap(error)
        }
    }

    /// Sets (or clears) the epoch this store's writes carry.
    public func setFence(_ fence: LeaseFence?) { self.fence.withLock { $0 = fence } }

    /// Inside a write's transaction: refuses it unless this daemon still leads with its epoch. FOR KEY SHARE keeps
    /// the row from being taken over (a takeover changes `epoch`, a key column since v7) until the transaction ends,
    /// yet lets a renewal (only `expires_at`) through: FOR SHARE let a burst of writes starve the renewal.
    func checkFence(_ connection: PostgresConnection) async throws {
        guard let fence = fence.withLock({ $0 }) else { return }
        guard ContinuousClock.now < fence.writableUntil else {
            throw QueueStoreError.notLeader(url: path, epoch: fence.epoch, reason: "its lease could not be renewed in time")
        }
        let rows = try await connection.query("SELECT epoch, holder FROM leader_lease WHERE id = 1 FOR KEY SHARE", logger: logger).collect()
        let (epoch, holder) = try rows[0].decode((Int64, String).self)
        guard epoch == fence.epoch, holder == fence.holder else {
            throw QueueStoreError.notLeader(url: path, epoch: fence.epoch, reason: "epoch \(epoch) has taken over")
        }
    }

    static func holder(_ connection: PostgresConnection, logger: Logger, lock: Bool) async throws -> LeaseHolder {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT epoch, holder, host, pid, CASE WHEN expires_at > now() THEN extract(epoch FROM expires_at - now())::float8 ELSE -1 END FROM leader_lease WHERE id = 1\(lock ? " FOR UPDATE" : "")
            """), logger: logger).collect()
        let (epoch, holder, host, pid, remaining) = try rows[0].decode((Int64, String, String, Int64, Double?).self)
        let left = Duration.milliseconds(Int64((remaining ?? -1) * 1000))
        return LeaseHolder(epoch: epoch, holder: holder, host: host, pid: pid, remaining: left)
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}
