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

extension TaskRecord: FetchableRecord {
    public init(row: Row) throws {
        id = row["id"]
        raw = RawRequest(
            project: Self.raw(row, "project"), environment: Self.raw(row, "environment"), release: Self.raw(row, "release"),
            changeNumber: Self.raw(row, "change_number"), requestedBy: Self.raw(row, "requested_by"),
            variables: Self.raw(row, "variables"), changeType: Self.raw(row, "change_type"))
        idempotencyKey = Self.text(row, "idempotency_key")
        notBefore = Self.text(row, "not_before")
        // The CHECK constraint keeps state valid; a damaged file still must not crash the daemon.
        state = TaskState(rawValue: Self.text(row, "state") ?? "") ?? .failed
        outcome = Self.text(row, "outcome").flatMap(Outcome.init(rawValue:))
        reason = Self.text(row, "reason")
        changeNumber = Self.text(row, "change_number")
        changeSysID = Self.text(row, "change_sys_id")
        changeLink = Self.text(row, "change_link").flatMap(ChangeLink.init(rawValue:))
        correlationID = Self.text(row, "correlation_id")
        exitCode = (row["exit_code"] as Int64?).map { Int32(truncatingIfNeeded: $0) }
        childPID = (row["child_pid"] as Int64?).map { Int32(truncatingIfNeeded: $0) }
        childIdentity = row.hasColumn("child_identity") ? Self.text(row, "child_identity") : nil
        changeTypeUsed = Self.text(row, "change_type_used")
        cancelRequested = (row["cancel_requested"] as Int64? ?? 0) != 0
        createdAt = Self.text(row, "created_at").flatMap(Timestamp.parse)
        updatedAt = Self.text(row, "updated_at").flatMap(Timestamp.parse)
        waitingSince = Self.text(row, "waiting_since").flatMap(Timestamp.parse)
        startedAt = Self.text(row, "started_at").flatMap(Timestamp.parse)
        finishedAt = Self.text(row, "finished_at").flatMap(Timestamp.parse)
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
    /// `SELECT` list for reading rows: every column, plus the producer columns as blobs.
    static let selection = "*, " + ["project", "environment", "release", "change_number", "requested_by", "variables", "change_type"]
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
