/// Concurrency slots per project and environment: who holds one, and who waits, first come first served.
/// The only place slot counts live; a grant is handed to the state machine as `.slotGranted`.
struct SlotTable {
    private struct Ticket { var id: Int64; var number: UInt64 }
    private var held: [String: Int] = [:]
    private var queues: [String: [Ticket]] = [:]
    private var heads: [String: Int] = [:]
    /// The live ticket of each waiting task; a queue entry without it was withdrawn and is skipped.
    private var live: [Int64: UInt64] = [:]
    private var nextTicket: UInt64 = 0
    /// Off once the daemon drains: freed slots stay free and waiters keep waiting, so nothing new starts.
    var granting = true

    func holders(_ key: String) -> Int { held[key, default: 0] }

    /// Joins the queue of `key`, then hands out free slots in order. Returns the tasks that now hold one
    /// (the requester among them when its turn is now); each must be told `.slotGranted`.
    mutating func request(_ id: Int64, key: String, limit: Int) -> [Int64] {
        nextTicket += 1
        live[id] = nextTicket
        queues[key, default: []].append(Ticket(id: id, number: nextTicket))
        return grant(key: key, limit: limit)
    }

    /// Counts a slot as held without asking (recovery: a leftover still occupies it).
    mutating func occupy(key: String) { held[key, default: 0] += 1 }

    /// A waiter that no longer wants a slot (cancelled, failed); skipped when its turn comes.
    mutating func withdraw(_ id: Int64) { live[id] = nil }

    /// Frees one slot of `key` and returns the waiters that now hold one (each must be told `.slotGranted`).
    mutating func release(key: String, limit: Int) -> [Int64] {
        held[key, default: 1] -= 1
        return grant(key: key, limit: limit)
    }

    /// Hands free slots to the waiters in order (also after a reload raised the limit).
    mutating func grant(key: String, limit: Int) -> [Int64] {
        guard granting else { return [] }
        var granted: [Int64] = []
        while held[key, default: 0] < limit, let next = popWaiter(key) {
            held[key, default: 0] += 1
            granted.append(next)
        }
        return granted
    }

    /// The first `limit` waiters in the order their turns come, without taking them off the queue.
    func nextWaiters(_ key: String, limit: Int) -> [Int64] {
        guard let queue = queues[key], limit > 0 else { return [] }
        var ids: [Int64] = []
        for ticket in queue[heads[key, default: 0]...] where live[ticket.id] == ticket.number {
            ids.append(ticket.id)
            if ids.count == limit { break }
        }
        return ids
    }

    private mutating func popWaiter(_ key: String) -> Int64? {
        while let count = queues[key]?.count, let head = heads[key, default: 0] as Int?, head < count {
            let ticket = queues[key]![head]
            if head + 1 == count {  // drained: start afresh
                queues[key] = nil
                heads[key] = nil
            } else if head + 1 >= 1024 {  // compact now and then; the queue is read front to back
                queues[key]!.removeFirst(head + 1)
                heads[key] = 0
            } else {
                heads[key] = head + 1
            }
            if live[ticket.id] == ticket.number {
                live[ticket.id] = nil
                return ticket.id
            }
        }
        return nil
    }
}
