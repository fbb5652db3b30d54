import Crypto

/// One row of the audit log as stored: `details` is the canonical JSON text of the details object.
public struct AuditRecord: Sendable, Equatable {
    public var seq: Int64
    public var taskID: Int64
    /// UTC ISO-8601 with milliseconds, exactly as stored.
    public var at: String
    public var kind: String
    public var details: String
    public var prevHash: String
    public var hash: String

    public init(seq: Int64, taskID: Int64, at: String, kind: String, details: String, prevHash: String, hash: String) {
        self.seq = seq
        self.taskID = taskID
        self.at = at
        self.kind = kind
        self.details = details
        self.prevHash = prevHash
        self.hash = hash
    }

    /// The details parsed back (an empty object if they do not parse; `verify` reports that case).
    public var detailValues: [String: AuditValue] {
        (try? CanonicalJSON.parse(details))?.objectValue ?? [:]
    }
}

/// The last record of a chain: what the next record links to.
public struct AuditHead: Sendable, Equatable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    /// Before the first record: seq 0 and a hash of 64 zeros.
    public static let genesis = AuditHead(seq: 0, hash: String(repeating: "0", count: 64))
}

/// Where a chain stops fitting: the first record that does not, and why.
public struct AuditFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var seq: Int64
    public var why: String

    public init(seq: Int64, why: String) {
        self.seq = seq
        self.why = why
    }

    public var description: String { "audit record \(seq) does not fit the chain: \(why)" }
}

/// The hash chain of the audit log.
///
/// Canonical content of a record: the canonical JSON (see `CanonicalJSON`) of
/// `{"at": at, "details": {...}, "kind": kind, "seq": seq, "task_id": task_id}`.
/// Its hash: lowercase hex of SHA-256 over the UTF-8 bytes of `prev_hash + "\n" + canonical content`,
/// where `prev_hash` is the previous record's hash (64 zeros for the first record).
public enum AuditChain {
    public static func canonicalContent(seq: Int64, taskID: Int64, at: String, kind: String, details: [String: AuditValue]) -> String {
        CanonicalJSON.encode(.object(["seq": .int(seq), "task_id": .int(taskID), "at": .string(at),
                                      "kind": .string(kind), "details": .object(details)]))
    }

    public static func hash(canonicalContent: String, previousHash: String) -> String {
        sha256Hex(Array((previousHash + "\n" + canonicalContent).utf8))
    }

    /// Lowercase hex SHA-256 of `bytes` (also the evidence record's own hash).
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { byte in
            let h = String(byte, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined()
    }

    /// The record that follows `head` for `event`.
    public static func record(after head: AuditHead, taskID: Int64, at: String, _ event: AuditEvent) -> AuditRecord {
        let seq = head.seq + 1
        let content = canonicalContent(seq: seq, taskID: taskID, at: at, kind: event.kind, details: event.details)
        return AuditRecord(seq: seq, taskID: taskID, at: at, kind: event.kind, details: CanonicalJSON.encode(.object(event.details)),
                           prevHash: head.hash, hash: hash(canonicalContent: content, previousHash: head.hash))
    }

    /// Checks records in stored order (by seq). Returns the first that does not fit, or nil when the chain holds.
    public static func verify<S: Sequence<AuditRecord>>(_ records: S) -> AuditFailure? {
        var verifier = Verifier()
        for record in records {
            if let failure = verifier.check(record) { return failure }
        }
        return nil
    }

    /// Checks a chain record by record, so a long log can be read in pages.
    public struct Verifier: Sendable {
        public private(set) var head = AuditHead.genesis
        public private(set) var count = 0

        public init() {}

        /// Checks the next record; after a failure the verifier is not advanced.
        public mutating func check(_ r: AuditRecord) -> AuditFailure? {
            let expected = head.seq + 1
            if r.seq != expected {
                let missing = r.seq - 1 == expected ? "record \(expected) is missing" : "records \(expected)…\(r.seq - 1) are missing"
                let why = r.seq > expected
                    ? (head.seq == 0 ? "the chain starts at seq \(r.seq): \(missing)" : "it follows record \(head.seq): \(missing)")
                    : "it follows record \(head.seq): records are out of order"
                return AuditFailure(seq: r.seq, why: why)
            }
            let details: [String: AuditValue]
            do {
                guard let object = try CanonicalJSON.parse(r.details).objectValue else {
                    return AuditFailure(seq: r.seq, why: "its details are not a JSON object")
                }
                details = object
            } catch {
                return AuditFailure(seq: r.seq, why: "its details are not valid JSON (\(error))")
            }
            if CanonicalJSON.encode(.object(details)) != r.details {
                return AuditFailure(seq: r.seq, why: "its details are not in canonical form (the stored text was edited)")
            }
            if r.prevHash != head.hash {
                let previous = head.seq == 0 ? "the chain's start (64 zeros)" : "the hash of record \(head.seq)"
                return AuditFailure(seq: r.seq, why: "its prev_hash \(short(r.prevHash)) is not \(previous), \(short(head.hash)): records were changed, removed or reordered here")
            }
            let content = AuditChain.canonicalContent(seq: r.seq, taskID: r.taskID, at: r.at, kind: r.kind, details: details)
            let computed = AuditChain.hash(canonicalContent: content, previousHash: r.prevHash)
            if computed != r.hash {
                return AuditFailure(seq: r.seq, why: "its content does not match its hash (stored \(short(r.hash)), computed \(short(computed))): the record was changed")
            }
            head = AuditHead(seq: r.seq, hash: r.hash)
            count += 1
            return nil
        }

        private func short(_ hash: String) -> String { hash.count > 12 ? String(hash.prefix(12)) + "…" : (hash.isEmpty ? "(empty)" : hash) }
    }
}
