import Synchronization

/// A counting semaphore for async code: at most `limit` holders at once, waiters served in order.
/// Waiting is cancellable (a cancelled waiter leaves the queue at once).
final class ConcurrencyLimiter: Sendable {
    private struct State {
        var available: Int
        var nextID: UInt64 = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    /// Takes a permit; throws `CancellationError` if the task is cancelled while waiting.
    func acquire() async throws(CancellationError) {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                    // Decide under the lock; resume outside it.
                    let now: Bool? = state.withLock { s in
                        if Task.isCancelled { return false }
                        if s.available > 0 {
                            s.available -= 1
                            return true
                        }
                        s.waiters.append((id, c))
                        return nil
                    }
                    switch now {
                    case true?: c.resume()
                    case false?: c.resume(throwing: CancellationError())
                    case nil: break
                    }
                }
            } onCancel: {
                let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                    guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.waiters.remove(at: i).continuation
                }
                c?.resume(throwing: CancellationError())
            }
        } catch {
            throw CancellationError()
        }
    }

    /// Returns a permit, handing it straight to the first waiter if there is one.
    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume()
    }

    /// Permits free right now (for tests).
    var availablePermits: Int { state.withLock { $0.available } }
}
