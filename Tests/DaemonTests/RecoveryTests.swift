@testable import Daemon
import Executor
import Foundation
import QueueContract
import QueueStore
import Testing
import TestSupport

/// Start-up recovery, with rows left as a crashed daemon leaves them.
@Suite(.serialized, .ownThreads) struct RecoveryTests {
    static let config = environments + simConnection + project("web", command: "true")

    /// A process group of its own, as a deploy command runs, left without a parent; returns its leader's pid.
    /// The caller kills the group.
    static func leftover(_ script: String) async throws -> Int32 {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cg-leftover-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        // posix_spawn, not Foundation's Process: its children start with SIGTERM blocked. Only the standard
        // descriptors: the leftover outlives this call and must not hold another test's pipes.
        let spawner = try spawnKeepingOnlyStandardDescriptors("/usr/bin/setsid", ["-f", "/bin/sh", "-c", "echo $$ > \(file); \(script)"])
        _ = try waitForExit(spawner)
        var pid: Int32 = 0
        try await eventually("the leftover's pid") {
            pid = Int32((try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            return pid > 0 && getpgid(pid) == pid
        }
        return pid
    }

    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return !stat.contains(") Z ")
    }

    @Test func aRecordedLeftoverThatIgnoresTermIsKilledBeforeItsSlotIsFree() async throws {
        let pid = try await Self.leftover("trap '' TERM; while true; do sleep 0.1; done")
        defer { kill(-pid, SIGKILL) }
        let identity = try #require(ChildIdentity.of(pid: pid))
        var running: Int64 = 0, next: Int64 = 0
        try await SchedulerHarness.with(Self.config, prepare: { store in
            running = try store.enqueue(project: "web", environment: "Staging", release: "1")
            try store.apply(TaskChange(state: .executing, correlationID: "c", childPID: pid, childIdentity: identity.recorded), to: running)
            next = try store.enqueue(project: "web", environment: "Staging", release: "2")
        }) { h in
            let done = try await h.wait(running, .failed)
            #expect(done.outcome == .interrupted)
            #expect(done.reason?.contains("ignored SIGTERM and was killed with SIGKILL") == true)
            #expect(!Self.alive(pid))
            // The slot (max_concurrent = 1) was held until the group was gone: the next row ran after it.
            try await h.wait(next, .succeeded)
            let freed = try #require(try h.store.log(of: running).first { $0.text.hasPrefix("state executing → completing") })
            let started = try #require(try h.store.log(of: next).first { $0.text.hasPrefix("state queued → executing") })
            #expect(started.id > freed.id)
        }
    }

    @Test func anExecutingRowWithoutARecordedPidNeverRan() async throws {
        var id: Int64 = 0
        try await SchedulerHarness.with(Self.config, prepare: { store in
            id = try store.enqueue(project: "web", environment: "Staging", release: "1")
            try store.apply(TaskChange(state: .executing, correlationID: "c"), to: id)
        }) { h in
            let done = try await h.wait(id, .failed)
            #expect(done.outcome == .interrupted)
            #expect(done.reason?.contains("no pid was recorded") == true)
        }
    }

    @Test func aLeftoverOfAnotherBootIsSaidToBeOutOfReach() async throws {
        // Recorded in another boot: a reboot, or another host of a shared queue. Nothing is claimed beyond that.
        let identity = ChildIdentity(pid: 999_999, startTicks: 1, bootID: "another-boot")
        var id: Int64 = 0
        try await SchedulerHarness.with(Self.config, prepare: { store in
            id = try store.enqueue(project: "web", environment: "Staging", release: "1")
            try store.apply(TaskChange(state: .executing, correlationID: "c", childPID: identity.pid, childIdentity: identity.recorded), to: id)
        }) { h in
            let done = try await h.wait(id, .failed)
            #expect(done.outcome == .interrupted)
            #expect(done.reason?.contains("under another boot id (another-…)") == true, "\(done.reason ?? "")")
            #expect(done.reason?.contains("Nothing here could be signalled") == true)
            #expect(done.reason?.contains("already gone") == false, "never more than was verified")
        }
    }

    @Test func creatingChangeReconcilesByCorrelationIDAndNeverCreatesASecondChange() async throws {
        let sim = FakeChangeService()
        var id: Int64 = 0
        try await SchedulerHarness.with(Self.config, sim: sim, prepare: { store in
            id = try store.enqueue(project: "web", environment: "Production", release: "1")
            let correlation = "changegate-\(try store.instanceID())-\(id)"
            try store.apply(TaskChange(state: .creatingChange, correlationID: correlation), to: id)
            // The crashed daemon's create reached ServiceNow; its commit did not.
            sim.put(state: .scheduled, approval: .requested, correlationID: correlation)
        }) { h in
            let row = try await h.wait(id, .awaitingApproval)
            #expect(row.changeLink == .correlationMatch)
            #expect(h.sim.all.count == 1)
            #expect(!h.sim.calls.contains("create"))
        }
    }
}
