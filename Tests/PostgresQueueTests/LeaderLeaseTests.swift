import Foundation
import PostgresQueue
import QueueContract
import QueueStore
import Testing
import TestSupport

/// The leader lease and its fence, on a real server: one leader at a time, epochs that only grow, and writes of a
/// leader that lost the lease refused inside their transaction.
@Suite(.serialized, .ownThreads) struct LeaderLeaseTests {
    static func withTwoStores(_ body: (PostgresCluster, PostgresQueueStore, PostgresQueueStore) async throws -> Void) async throws {
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            try await PostgresQueueStore.withStore(cluster.endpoint(), logger: testLogger) { a in
                try await PostgresQueueStore.withStore(cluster.endpoint(), logger: testLogger) { b in
                    try await body(cluster, a, b)
                }
            }
        }
    }

    @Test func oneLeaderAtATimeAndEachTakeoverAnotherEpoch() async throws {
        try await Self.withTwoStores { cluster, a, b in
            let hostA = DaemonIdentity(host: "host-a", pid: 11), hostB = DaemonIdentity(host: "host-b", pid: 22)
            guard case .acquired(let first, let before) = try await a.tryAcquireLease(as: hostA, lease: .seconds(30)) else {
                Issue.record("a free lease is taken"); return
            }
            #expect(first == 1 && !before.isHeld && before.summary == "nobody")
            guard case .heldBy(let holder) = try await b.tryAcquireLease(as: hostB, lease: .seconds(30)) else {
                Issue.record("a held lease is not taken"); return
            }
            #expect(holder.host == "host-a" && holder.pid == 11 && holder.epoch == 1 && holder.remaining > .seconds(20))
            #expect(try await a.renewLease(epoch: 1, as: hostA, lease: .seconds(30)))
            #expect(try await b.renewLease(epoch: 1, as: hostB, lease: .seconds(30)) == false, "only the holder renews")
            // A clean stop gives the lease up: the standby need not wait for it to run out.
            try await a.releaseLease(epoch: 1, as: hostA)
            guard case .acquired(let second, let previous) = try await b.tryAcquireLease(as: hostB, lease: .seconds(30)) else {
                Issue.record("a released lease is taken"); return
            }
            #expect(second == 2 && previous.host == "host-a" && previous.epoch == 1)
            #expect(try await a.renewLease(epoch: 1, as: hostA, lease: .seconds(30)) == false, "the old epoch cannot come back")
            #expect(try await b.leaseHolder().summary == "host-b (pid 22, epoch 2)")
            #expect(try cluster.psql("SELECT epoch || ' ' || host FROM leader_lease", database: "changegate") == "2 host-b")
        }
    }

    @Test func aLeaseThatRunsOutIsTakenOverByTheServersClock() async throws {
        try await Self.withTwoStores { _, a, b in
            let hostA = DaemonIdentity(host: "host-a"), hostB = DaemonIdentity(host: "host-b")
            _ = try await a.tryAcquireLease(as: hostA, lease: .seconds(1))
            // Not before it runs out: however long this takes to run, the first try is within the second.
            if case .acquired = try await b.tryAcquireLease(as: hostB, lease: .seconds(30)) {
                #expect(try await a.leaseHolder().remaining <= .zero, "taken only once it ran out")
            }
            try await Task.sleep(for: .milliseconds(1_300))
            guard case .acquired(let epoch, let previous) = try await b.tryAcquireLease(as: hostB, lease: .seconds(30)) else {
                Issue.record("a lease that ran out is taken"); return
            }
            #expect(epoch == 2 && previous.host == "host-a" && !previous.isHeld)
        }
    }

    @Test func theOldLeadersWritesAreRefusedOnceANewerEpochExists() async throws {
        try await Self.withTwoStores { cluster, a, b in
            let hostA = DaemonIdentity(host: "host-a"), hostB = DaemonIdentity(host: "host-b")
            let id = try #require(Int64(try cluster.psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Production', '1') RETURNING id", database: "changegate")))
            _ = try await a.tryAcquireLease(as: hostA, lease: .seconds(30))
            a.setFence(LeaseFence(epoch: 1, holder: hostA.holder, writableUntil: .now + .seconds(60)))
            try await a.commit([(id, TaskChange(state: .creatingChange, events: ["by the leader of epoch 1"]))], at: Date())
            try await a.setDaemonNote("poll.sim", "ok")
            // Taken over (released here, as a partitioned leader's lease runs out); the old leader does not know yet.
            try cluster.psql("UPDATE leader_lease SET expires_at = '-infinity'", database: "changegate")
            _ = try await b.tryAcquireLease(as: hostB, lease: .seconds(30))
            b.setFence(LeaseFence(epoch: 2, holder: hostB.holder, writableUntil: .now + .seconds(60)))
            let refused = await #expect(throws: QueueStoreError.self) {
                try await a.commit([(id, TaskChange(state: .executing, childPID: 4242, events: ["by the old leader"]))], at: Date())
            }
            guard case .notLeader(_, 1, let reason)? = refused else { Issue.record("not notLeader: \(String(describing: refused))"); return }
            #expect(reason.contains("epoch 2 has taken over"))
            await #expect(throws: QueueStoreError.self) { try await a.setDaemonNote("poll.sim", "stale") }
            await #expect(throws: QueueStoreError.self) { try await a.noteIntegrationError(connection: "sim", taskID: id, message: "x", at: Date()) }
            // Nothing of the refused writes landed; the new leader writes.
            #expect(try cluster.psql("SELECT state || ' ' || coalesce(child_pid, 0) FROM deployments WHERE id = \(id)", database: "changegate") == "creating_change 0")
            #expect(try cluster.psql("SELECT value FROM meta WHERE key = 'note.poll.sim'", database: "changegate") == "ok")
            try await b.commit([(id, TaskChange(state: .awaitingApproval, events: ["by the leader of epoch 2"]))], at: Date())
            #expect(try cluster.psql("SELECT string_agg(line, ' | ' ORDER BY id) FROM task_log WHERE task_id = \(id)", database: "changegate")
                    == "by the leader of epoch 1 | by the leader of epoch 2")
        }
    }

    @Test func aLeaderPastItsOwnDeadlineWritesNothingEvenWhileTheRowIsStillItsOwn() async throws {
        try await Self.withTwoStores { cluster, a, _ in
            let hostA = DaemonIdentity(host: "host-a")
            let id = try #require(Int64(try cluster.psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Production', '1') RETURNING id", database: "changegate")))
            _ = try await a.tryAcquireLease(as: hostA, lease: .seconds(30))
            a.setFence(LeaseFence(epoch: 1, holder: hostA.holder, writableUntil: .now - .milliseconds(1)))
            let refused = await #expect(throws: QueueStoreError.self) {
                try await a.commit([(id, TaskChange(state: .creatingChange))], at: Date())
            }
            guard case .notLeader(_, 1, let reason)? = refused else { Issue.record("not notLeader: \(String(describing: refused))"); return }
            #expect(reason.contains("could not be renewed in time"))
            #expect(try cluster.psql("SELECT state FROM deployments WHERE id = \(id)", database: "changegate") == "queued")
        }
    }
}
