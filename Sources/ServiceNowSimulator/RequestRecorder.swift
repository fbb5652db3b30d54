import Foundation

/// Counts and logs API requests (never `/_sim/` ones) for `GET /_sim/requests`. The log keeps the newest
/// `limit` entries in a ring buffer.
actor RequestRecorder {
    struct Entry: Sendable {
        let at: Date
        let method: String
        let path: String
        let query: String
        let status: Int
        let user: String
        /// The client's id of one logical call, the same on each retry (`X-Changegate-Request-Id`), or "".
        var requestID = ""
        /// Bytes of the answer's body, for the cost figures.
        var bytes = 0
    }

    private var total = 0
    private var totalBytes = 0
    private var byEndpoint: [String: Int] = [:]
    private var ring: [Entry] = []
    private var head = 0
    private let limit: Int

    init(limit: Int) { self.limit = max(1, limit) }

    func record(_ entry: Entry, endpoint: String) {
        total += 1
        totalBytes += entry.bytes
        byEndpoint["\(entry.method) \(endpoint)", default: 0] += 1
        if ring.count < limit {
            ring.append(entry)
        } else {
            ring[head] = entry
            head = (head + 1) % limit
        }
    }

    func reset() {
        total = 0
        totalBytes = 0
        byEndpoint = [:]
        ring = []
        head = 0
    }

    var json: JSON {
        let ordered = ring.count < limit ? ring : Array(ring[head...] + ring[..<head])
        let endpoints = JSONObject(byEndpoint.sorted { $0.key < $1.key }.map { ($0.key, JSON.int($0.value)) })
        return .obj([
            "total": .int(total),
            "bytes": .int(totalBytes),
            "by_endpoint": .object(endpoints),
            "log": .array(ordered.map { e in
                .obj(["at": .string(Self.iso(e.at)), "method": .string(e.method), "path": .string(e.path),
                      "query": .string(e.query), "status": .int(e.status), "user": .string(e.user),
                      "request_id": .string(e.requestID), "bytes": .int(e.bytes)])
            }),
        ])
    }

    /// ISO-8601 in UTC with milliseconds.
    static func iso(_ date: Date) -> String {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        let text = GlideClock.text(Int((Double(ms) / 1000).rounded(.down)))
        return text.replacingOccurrences(of: " ", with: "T") + String(format: ".%03dZ", ((ms % 1000) + 1000) % 1000)
    }

    /// The path with record ids replaced, so counts group by endpoint: `/api/sn_chg_rest/change/{id}`.
    static func template(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { isSysID($0) ? "{id}" : String($0) }
            .joined(separator: "/")
    }
}
