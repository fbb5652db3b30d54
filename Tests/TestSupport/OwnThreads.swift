import Dispatch
import Testing

/// Runs each test of a suite on threads of its own instead of Swift concurrency's cooperative pool.
///
/// The whole suite runs in one process, and the cooperative pool has one thread per core (two here). A test that
/// waits synchronously (`Process.waitUntilExit()`, a pipe read to its end, a systemd box that boots for seconds,
/// a `sqlite3` CLI call in a polling loop) holds one of those threads for as long as it waits. A few such tests at
/// once leave the in-process tests (the scheduler on its fake clock, the simulator, the clients) with no thread at
/// all, and they time out waiting for work that never got to run: CI saw a 0.2 s test fail after 30 s. Suites
/// that block say so with this trait; their jobs run on a queue that adds a thread whenever all of its threads are
/// busy, so their waits cost a thread, never the pool.
///
///     @Suite(.ownThreads) struct DaemonFlowTests { … }
public struct OwnThreadsTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self  // each test case, not the suite around them
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await withTaskExecutorPreference(BlockingWorkExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OwnThreadsTrait {
    /// The suite's tests block threads; they get their own (see `OwnThreadsTrait`).
    public static var ownThreads: Self { OwnThreadsTrait() }
}

/// A task executor over a concurrent dispatch queue. Such a queue targets an overcommitting root queue, which
/// starts another thread when a job arrives and every thread it has is busy: a blocked job never holds up the next.
public final class BlockingWorkExecutor: TaskExecutor {
    public static let shared = BlockingWorkExecutor()
    private let queue = DispatchQueue(label: "changegate.tests.blocking-work", attributes: .concurrent)

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
