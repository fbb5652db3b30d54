import Foundation
import GRDB
import QueueContract

/// One row of `deployments`, as changegate reads it back. Producer columns stay raw until validated.
public struct TaskRecord: Sendable, Equatable, Identifiable {
    public var id: Int64
    public var raw: RawRequest
    public var idempotencyKey: String?
    public var notBefore: String?
    public var state: TaskState
    public var outcome: Outcome?
    public var reason: String?
    public var changeNumber: String?
    public var changeSysID: String?
    public var changeLink: ChangeLink?
    public var correlationID: String?
    public var exitCode: Int32?
    public var childPID: Int32?
    public var childIdentity: String?
    public var changeTypeUsed: String?
    public var cancelRequested: Bool
    public var createdAt: Date?
    public var updatedAt: Date?
    public var waitingSince: Date?
    public var startedAt: Date?
    public var finishedAt: Date?

    /// Text of a column for display (`status`), whatever its type.
    public static func display(_ value: RawValue) -> String {
        switch value {
        case .null: ""
        case .text(let s): s
        case .notText(let d): "<\(d)>"
        }
    }
}

extension TaskRecord {
    /// Builds a record from a row of any backend: `column` gives a column's value without trusting its type,
    /// `integer` an integer column's value.
    package init(id: Int64, column: (String) -> RawValue, integer: (String) -> Int64?) {
        func text(_ name: String) -> String? {
            if case .text(let s) = column(name) { return s }
            return nil
        }
        self.id = id
        raw = RawRequest(
            project: column("project"), environment: column("environment"), release: column("release"),
            changeNumber: column("change_number"), requestedBy: column("requested_by"),
            variables: column("variables"), changeType: column("change_type"), changeTemplate: column("change_template"))
        idempotencyKey = text("idempotency_key")
        notBefore = text("not_before")
        // The CHECK constraint keeps state valid; a damaged database still must not crash the daemon.
        state = TaskState(rawValue: text("state") ?? "") ?? .failed
        outcome = text("outcome").flatMap(Outcome.init(rawValue:))
        reason = text("reason")
        changeNumber = text("change_number")
        changeSysID = text("change_sys_id")
        changeLink = text("change_link").flatMap(ChangeLink.init(rawValue:))
        correlationID = text("correlation_id")
        exitCode = integer("exit_code").map { Int32(truncatingIfNeeded: $0) }
        childPID = integer("child_pid").map { Int32(truncatingIfNeeded: $0) }
        childIdentity = text("child_identity")
        changeTypeUsed = text("change_type_used")
        cancelRequested = (integer("cancel_requested") ?? 0) != 0
        createdAt = text("created_at").flatMap(Timestamp.parse)
        updatedAt = text("updated_at").flatMap(Timestamp.parse)
        waitingSince = text("waiting_since").flatMap(Timestamp.parse)
        startedAt = text("started_at").flatMap(Timestamp.parse)
        finishedAt = text("finished_at").flatMap(Timestamp.parse)
    }
}

extension TaskRecord: FetchableRecord {
    public init(row: Row) throws {
        // Columns added by later migrations read as NULL from an older file (a read-only open before migrating).
        self.init(id: row["id"], column: { row.hasColumn($0) ? Self.raw(row, $0) : .null }, integer: { row[$0] })
    }

    /// Reads a column without trusting its type: SQLite lets producers store anything anywhere.
    /// Producer columns are also selected as blobs (`<column>_bytes`, see `producerColumns`) so that text
    /// holding a NUL byte is seen whole, not cut at the NUL as C strings are.
    static func raw(_ row: Row, _ column: String) -> RawValue {
        if row.hasColumn(column + "_bytes"), case .blob(let data) = (row[column + "_bytes"] as DatabaseValue).storage,
           case .string = (row[column] as DatabaseValue).storage {
            return .text(String(decoding: data, as: UTF8.self))
        }
        let value: DatabaseValue = row[column]
        switch value.storage {
        case .null: return .null
        case .string(let s): return .text(s)
        case .int64(let i): return .notText("the number \(i)")
        case .double(let d): return .notText("the number \(d)")
        case .blob(let data):
            if let s = String(data: data, encoding: .utf8) { return .text(s) }
            return .notText("\(data.count) bytes that are not UTF-8 text")
        }
    }

    static func text(_ row: Row, _ column: String) -> String? {
        if case .text(let s) = raw(row, column) { return s }
        return nil
    }
}

extension TaskRecord {
    /// Every column of `deployments` on either backend, in a fixed order (never `*`: migrations add columns at the end).
    public static let columnNames = ["id", "project", "environment", "release", "change_number", "requested_by", "variables", "change_type",
                                     "idempotency_key", "not_before", "state", "outcome", "reason", "change_sys_id", "change_link", "correlation_id",
                                     "exit_code", "cancel_requested", "created_at", "updated_at", "waiting_since", "started_at", "finished_at",
                                     "change_type_used", "child_pid", "child_identity", "change_template"]

    /// `SELECT` list for reading rows: every column, plus the producer columns as blobs.
    static let selection = "*, " + ["project", "environment", "release", "change_number", "requested_by", "variables", "change_type", "change_template"]
        .map { "CAST(\($0) AS BLOB) AS \($0)_bytes" }.joined(separator: ", ")
}

/// Timestamps in the database: UTC ISO-8601 with milliseconds, as SQLite's strftime writes them.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func parse(_ text: String) -> Date? {
        if let d = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return d }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
