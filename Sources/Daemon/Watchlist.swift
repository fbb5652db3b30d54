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

    mutating func move(_ id: Int64, from old: WatchKey?, to new: WatchKey?) {
        guard old != new else { return }
        if let old {
            tasks[old]?.remove(id)
            if tasks[old]?.isEmpty == true {
                tasks[old] = nil
                last[old] = nil
                missing.remove(old)
                numbers[old.connection]?.remove(old.number)
                if numbers[old.connection]?.isEmpty == true { numbers[old.connection] = nil }
            }
        }
        if let new {
            // A newcomer's copy may be older than the poll's last one: the next poll tells every watcher.
            last[new] = nil
            tasks[new, default: []].insert(id)
            numbers[new.connection, default: []].insert(new.number)
        }
    }

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
