import ServiceNowModel

/// A change one connection's poll reads.
struct WatchKey: Hashable, Sendable {
    var connection: String
    var number: String
}

/// Which tasks wait on or run under which change, per connection, and the last copy of each change.
/// The poll reads each watched change once however many tasks share it, and only tasks whose change
/// differs from the last copy are decided again.
struct Watchlist {
    private var tasks: [WatchKey: Set<Int64>] = [:]
    private var numbers: [String: Set<String>] = [:]
    private var last: [WatchKey: ChangeSnapshot] = [:]
    /// Changes the poll did not return last time (reported once, not on every poll).
    private var missing: Set<WatchKey> = []
    /// Newly watched changes, per connection: the delta poll only returns changes updated lately, so these are read
    /// by number once (an update between the task's own read and its first delta would otherwise wait for the
    /// reconcile).
    private var unsynced: [String: Set<String>] = [:]

    mutating func move(_ id: Int64, from old: WatchKey?, to new: WatchKey?) {
        guard old != new else { return }
        if let old {
            tasks[old]?.remove(id)
            if tasks[old]?.isEmpty == true {
                tasks[old] = nil
                last[old] = nil
                missing.remove(old)
                unsynced[old.connection]?.remove(old.number)
                numbers[old.connection]?.remove(old.number)
                if numbers[old.connection]?.isEmpty == true { numbers[old.connection] = nil }
            }
        }
        if let new {
            // A newcomer's copy may be older than the poll's last one: the next poll tells every watcher.
            last[new] = nil
            tasks[new, default: []].insert(id)
            numbers[new.connection, default: []].insert(new.number)
            unsynced[new.connection, default: []].insert(new.number)
        }
    }

    func isWatching(on connection: String) -> Bool { !(numbers[connection]?.isEmpty ?? true) }

    func count(on connection: String) -> Int { numbers[connection]?.count ?? 0 }

    /// The newly watched changes of a connection, which its next delta poll also reads by number.
    mutating func takeUnsynced(on connection: String) -> [String] {
        guard let fresh = unsynced.removeValue(forKey: connection) else { return [] }
        return fresh.sorted()
    }

    /// A full read covers every watched change.
    mutating func synced(on connection: String) { unsynced[connection] = nil }

    var connections: Dictionary<String, Set<String>>.Keys { numbers.keys }

    func numbers(on connection: String) -> [String] { numbers[connection].map { $0.sorted() } ?? [] }

    func watchers(_ key: WatchKey) -> Set<Int64> { tasks[key] ?? [] }

    /// Records a poll's copy; true when it differs from the last one (the watchers must hear of it).
    mutating func update(_ change: ChangeSnapshot, connection: String) -> Bool {
        let key = WatchKey(connection: connection, number: change.number)
        missing.remove(key)
        guard tasks[key] != nil, last[key] != change else { return false }
        last[key] = change
        return true
    }

    /// Records that the poll did not return the change; true the first time in a row.
    mutating func markMissing(_ key: WatchKey) -> Bool { tasks[key] != nil && missing.insert(key).inserted }
}
