import Daemon
import Foundation
import Synchronization

/// A clock the test moves by hand: sleepers wake when `advance` passes their deadline, never by themselves.
final class ManualClock: SchedulerClock {
    private struct Sleeper { var id: UInt64; var until: Date; var continuation: CheckedContinuation<Void, any Error> }
    private let state: Mutex<(now: Date, sleepers: [Sleeper], nextID: UInt64)>

    init(_ start: Date = Date(timeIntervalSince1970: 1_900_000_000)) { state = Mutex((start, [], 0)) }

    func now() -> Date { state.withLock { $0.now } }

    func advance(by seconds: TimeInterval) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = s.now.addingTimeInterval(seconds)
            let due = s.sleepers.filter { $0.until <= s.now }
            s.sleepers.removeAll { $0.until <= s.now }
            return due
        }
        due.forEach { $0.continuation.resume() }
    }

    func sleep(until deadline: Date) async throws {
        let id = state.withLock { s in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let resume = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, until: deadline, continuation: c))
                    return false
                }
                if resume { c.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
