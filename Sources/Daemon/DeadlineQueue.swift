import Foundation

/// The times the loop must wake for, in a binary min-heap: computed once when a task changes, never by
/// rescanning tasks. An entry whose generation no longer matches its task is stale and dropped when it surfaces.
struct DeadlineQueue {
    enum Kind: Sendable, Equatable {
        /// The state machine's `deadline(_:policy:)` for the task: fed as `.tick`.
        case tick
        /// An `Effect.retry`: fed as `.retryDue`.
        case retry
        /// A queued row whose `not_before` is in the future (not held in memory until then).
        case notBefore
    }

    struct Entry: Sendable {
        var at: Date
        var id: Int64
        var kind: Kind
        var generation: UInt64
    }

    private var heap: [Entry] = []

    var count: Int { heap.count }
    var next: Date? { heap.first?.at }

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].at < heap[parent].at else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns every entry due at `now`, earliest first.
    mutating func popDue(_ now: Date) -> [Entry] {
        var due: [Entry] = []
        while let first = heap.first, first.at <= now { due.append(pop()) }
        return due
    }

    private mutating func pop() -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        guard !heap.isEmpty else { return top }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < heap.count && heap[l].at < heap[smallest].at { smallest = l }
            if r < heap.count && heap[r].at < heap[smallest].at { smallest = r }
            if smallest == i { break }
            heap.swapAt(i, smallest)
            i = smallest
        }
        return top
    }
}
