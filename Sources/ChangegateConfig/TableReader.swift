import TOMLKit

/// Reads one TOML table with typed accessors, remembering which keys were read so unknown ones are reported.
struct TableReader {
    let table: TOMLTable
    let keyPath: String
    let locate: (String) -> ConfigError
    private(set) var seen: Set<String> = []

    init(_ table: TOMLTable, keyPath: String, locate: @escaping (String) -> ConfigError) {
        self.table = table
        self.keyPath = keyPath
        self.locate = locate
    }

    func path(_ key: String) -> String { keyPath.isEmpty ? key : "\(keyPath).\(key)" }

    func error(_ key: String, _ problem: String, fix: String) -> ConfigError {
        var e = locate(path(key))
        e.problem = problem
        e.fix = fix
        return e
    }

    mutating func string(_ key: String, example: String) throws(ConfigError) -> String? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        guard let s = value.string else {
            throw error(key, "must be a string", fix: "\(key) = \"\(example)\"")
        }
        return s
    }

    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        guard let b = value.bool else { throw error(key, "must be true or false", fix: "\(key) = true") }
        return b
    }

    mutating func int(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        guard let i = value.int, range.contains(i) else {
            throw error(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)", fix: "\(key) = \(range.lowerBound)")
        }
        return i
    }

    /// A duration: a number of seconds or a string such as "500ms", "5s", "10m", "72h", "2d".
    mutating func duration(_ key: String, example: String) throws(ConfigError) -> Duration? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        if let i = value.int, i >= 0 { return .seconds(i) }
        if let d = value.double, d >= 0 { return .milliseconds(Int64(d * 1000)) }
        if let s = value.string, let d = Self.parseDuration(s) { return d }
        throw error(key, "must be a duration (seconds, or a string like \"\(example)\")", fix: "\(key) = \"\(example)\"")
    }

    mutating func stringArray(_ key: String, example: String) throws(ConfigError) -> [String]? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of strings", fix: "\(key) = \(example)") }
        var result: [String] = []
        for item in array {
            guard let s = item.string else { throw error(key, "must be an array of strings", fix: "\(key) = \(example)") }
            result.append(s)
        }
        return result
    }

    /// One string or an array of strings (`cmdb_ci = "web01"` or `cmdb_ci = ["web01", "db01"]`).
    mutating func stringOrArray(_ key: String, example: String) throws(ConfigError) -> [String]? {
        if let s = table[key]?.string {
            seen.insert(key)
            return [s]
        }
        return try stringArray(key, example: example)
    }

    mutating func stringTable(_ key: String, example: String) throws(ConfigError) -> [String: String]? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        guard let sub = value.table else { throw error(key, "must be a table of strings", fix: example) }
        var result: [String: String] = [:]
        for k in sub.keys {
            guard let s = sub[k]?.string else {
                throw error("\(key).\(k)", "must be a string", fix: "quote the value: \(k) = \"…\"")
            }
            result[k] = s
        }
        return result
    }

    mutating func subtable(_ key: String) throws(ConfigError) -> TOMLTable? {
        seen.insert(key)
        guard let value = table[key] else { return nil }
        guard let sub = value.table else { throw error(key, "must be a table", fix: "write it as [\(path(key))]") }
        return sub
    }

    /// Fails on the first key that no reader asked for: almost always a typo.
    func rejectUnknownKeys() throws(ConfigError) {
        for key in table.keys.sorted() where !seen.contains(key) {
            let guess = seen.min(by: { Self.distance($0, key) < Self.distance($1, key) })
            let hint = guess.map { Self.distance($0, key) <= 3 ? "did you mean \($0)? " : "" } ?? ""
            throw error(key, "is not a known setting", fix: "\(hint)remove it or check etc/changegate.toml for the settings")
        }
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            if let n = Double(t.dropLast(suffix.count)), n >= 0 { return .milliseconds(Int64(n * factor * 1000)) }
        }
        return nil
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}

import Foundation
