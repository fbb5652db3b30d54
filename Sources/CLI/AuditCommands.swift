import ArgumentParser
import AuditTrail
import ChangegateConfig
import Foundation
import PostgresQueue
import QueueStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the hash-chained audit trail, and export it per deployment for auditors.",
        subcommands: [AuditVerify.self, AuditExportCommand.self])
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the audit chain. Exit 0 when every record fits; 1 naming the first record that does not.",
        discussion: """
            The triggers on audit_log refuse UPDATE and DELETE through ordinary SQL; someone with write access to the
            database file can drop them. The chain is what catches that: each record's hash covers its content and
            the previous record's hash. Keep the printed head (seq and hash) somewhere else to detect the newest
            records being cut off.
            """)

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reporting {
            let (count, head, failure) = try await verify()
            if let failure {
                let good = head.seq == 0 ? "no record before it fits" : "records 1…\(head.seq) fit; record \(head.seq) has hash \(head.hash)"
                throw CLIError.failure("audit chain broken at record \(failure.seq): \(failure.why). (\(good))")
            }
            if count == 0 {
                print("audit chain OK: no records yet")
            } else {
                print("audit chain OK: \(count) records; head: record \(head.seq), hash \(head.hash)")
            }
        }
    }
}

extension AuditVerify {
    /// The chain of the config's queue, on whichever backend it is.
    func verify() async throws -> (count: Int, head: AuditHead, failure: AuditFailure?) {
        try await store.withQueue(readOnly: true, command: "audit verify") { q in try await q.verifyChain() }
    }
}

enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case csv, json
}

struct AuditExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "One row per deployment: who asked, which change and how it was approved, when it ran, how it ended.",
        discussion: """
            CSV follows RFC 4180 (CRLF, quoted fields); JSON is one object per line. Deployments are chosen by when they
            were queued: --since is inclusive, --until exclusive; a bare date (2026-03-01) means midnight UTC, and as
            --until the whole day is included. The change link needs the config (the connection's URL).
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "csv or json (one object per line).") var format: ExportFormat
    @Option(help: "Deployments queued at or after this UTC date or time (2026-03-01 or 2026-03-01T12:00:00Z).") var since: String?
    @Option(help: "Deployments queued before this UTC time; a bare date includes that whole day.") var until: String?
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only this environment.") var environment: String?
    @Option(help: "Write to this file instead of standard output.") var out: String?

    func validate() throws {
        if let since, ExportDates.parse(since, endOfDay: false) == nil {
            throw ValidationError("--since \(since): expected a UTC date such as 2026-03-01 or a time such as 2026-03-01T12:00:00Z")
        }
        if let until, ExportDates.parse(until, endOfDay: true) == nil {
            throw ValidationError("--until \(until): expected a UTC date such as 2026-03-31 or a time such as 2026-03-31T18:00:00Z")
        }
    }

    func run() async throws {
        try await reporting {
            let count = try await store.withQueue(readOnly: true, command: "audit export") { q in
                // Links need the connection URLs; without a readable config they are left empty.
                let config = try? ConfigLoader.load(path: store.config)
                let (_, _, failure) = try await q.verifyChain()
                if let failure {
                    FileHandle.standardError.write(Data("changegate: warning: \(failure); run `changegate audit verify`. Exporting anyway.\n".utf8))
                }
                let tasks = try await q.tasks(createdFrom: since.flatMap { ExportDates.parse($0, endOfDay: false) },
                                              to: until.flatMap { ExportDates.parse($0, endOfDay: true) })
                    .filter { t in
                        (project == nil || TaskRecord.display(t.raw.project) == project)
                            && (environment == nil || TaskRecord.display(t.raw.environment) == environment)
                    }
                let sink: FileHandle
                if let out {
                    guard FileManager.default.createFile(atPath: out, contents: nil, attributes: [.posixPermissions: 0o640]),
                          let handle = FileHandle(forWritingAtPath: out) else {
                        throw CLIError.failure("cannot write \(out); check the directory exists and is writable")
                    }
                    sink = handle
                } else {
                    sink = FileHandle.standardOutput
                }
                defer { if out != nil { try? sink.close() } }
                if format == .csv { sink.write(Data(AuditExport.csvHeader.utf8)) }
                for task in tasks {
                    let row = ExportRows.row(task, audit: try await q.auditRecords(ofTask: task.id), config: config)
                    sink.write(Data((format == .csv ? AuditExport.csvLine(row) : AuditExport.jsonLine(row)).utf8))
                }
                return tasks.count
            }
            if let out {
                FileHandle.standardError.write(Data("changegate: wrote \(count) deployment(s) to \(out)\n".utf8))
            }
        }
    }
}

enum ExportDates {
    /// `YYYY-MM-DD` (midnight UTC; with `endOfDay` the next midnight) or an ISO-8601 time.
    static func parse(_ text: String, endOfDay: Bool) -> Date? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.count == 10, let day = try? Date.ISO8601FormatStyle().year().month().day().parse(t) {
            return endOfDay ? day.addingTimeInterval(86_400) : day
        }
        return Timestamp.parse(t)
    }
}
