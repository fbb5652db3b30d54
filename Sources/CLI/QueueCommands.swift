import ArgumentParser
import Foundation
import QueueStore
import QueueContract
import StateMachine

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Queue a deployment (the same as an INSERT into the deployments table). Prints the task id.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Project name, as configured.") var project: String
    @Argument(help: "Environment name, as configured.") var environment: String
    @Argument(help: "Release (version) to deploy.") var release: String
    @Option(help: "Use this existing change request (e.g. CHG0030001).") var changeNumber: String?
    @Option(help: "Who asked for the deployment.") var requestedBy: String?
    @Option(name: .customLong("var"), help: "A variable for the deploy command, NAME=VALUE (repeatable).") var variables: [String] = []
    @Option(help: "normal, emergency or standard: the type of change to create.") var changeType: String?
    @Option(help: "A standard change template from the project's allowed_change_templates.") var changeTemplate: String?
    @Option(help: "A key unique among unfinished deployments.") var idempotencyKey: String?
    @Option(help: "Do not start before this UTC time (ISO-8601).") var notBefore: String?

    func run() async throws {
        try await reporting {
            var dict: [String: String] = [:]
            for v in variables {
                guard let eq = v.firstIndex(of: "=") else { throw CLIError.failure("--var \(v): expected NAME=VALUE") }
                dict[String(v[..<eq])] = String(v[v.index(after: eq)...])
            }
            let json = dict.isEmpty ? nil : String(decoding: try JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys]), as: UTF8.self)
            let request = EnqueueRequest(project: project, environment: environment, release: release, changeNumber: changeNumber,
                                         requestedBy: requestedBy ?? ProcessInfo.processInfo.environment["USER"], variables: json,
                                         changeType: changeType, idempotencyKey: idempotencyKey, notBefore: notBefore,
                                         changeTemplate: changeTemplate)
            let id = try await store.withQueue(readOnly: false, command: "enqueue") { q in try await q.queue(request) }
            print(id)
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show recent deployments, or one in detail.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "A task id for details.") var id: Int64?
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "How many recent tasks to list.") var limit = 30

    func run() async throws {
        try await reporting {
            if let postgres = try store.postgres() {
                try await postgresStatus(postgres)
                return
            }
            let q = try store.open(readOnly: true)
            if let id {
                let task = try q.task(id)
                if json { print(try Self.json([Self.object(task)])) } else { print(Self.detail(task)) }
                return
            }
            let tasks = try q.recent(limit: limit)
            if json {
                print(try Self.json(tasks.map(Self.object)))
                return
            }
            print(Table.render(header: ["ID", "PROJECT", "ENVIRONMENT", "RELEASE", "STATE", "CHANGE", "OUTCOME"],
                               rows: tasks.map { t in
                                   [String(t.id), TaskRecord.display(t.raw.project), TaskRecord.display(t.raw.environment),
                                    String(TaskRecord.display(t.raw.release).prefix(24)), t.state.rawValue, t.changeNumber ?? "-", t.outcome?.rawValue ?? "-"]
                               }))
            let notes = try q.daemonNotes()
            if !notes.isEmpty {
                print("\nDaemon:")
                for n in notes { print("  \(n.key): \(n.value)") }
            }
            let errors = try q.recentIntegrationErrors(limit: 3)
            if !errors.isEmpty {
                print("\nRecent ServiceNow integration errors:")
                for e in errors { print("  \(Timestamp.format(e.at)) [\(e.connection)] \(e.message)") }
            }
        }
    }

    static func object(_ t: TaskRecord) -> [String: Any] {
        var o: [String: Any] = ["id": t.id, "project": TaskRecord.display(t.raw.project), "environment": TaskRecord.display(t.raw.environment),
                                "release": TaskRecord.display(t.raw.release), "state": t.state.rawValue, "cancel_requested": t.cancelRequested]
        o["outcome"] = t.outcome?.rawValue
        o["reason"] = t.reason
        o["change_number"] = t.changeNumber
        o["change_link"] = t.changeLink?.rawValue
        o["exit_code"] = t.exitCode.map { Int($0) }
        o["requested_by"] = TaskRecord.display(t.raw.requestedBy).nilIfEmpty
        for (k, d) in [("created_at", t.createdAt), ("started_at", t.startedAt), ("finished_at", t.finishedAt)] {
            o[k] = d.map(Timestamp.format)
        }
        return o
    }

    static func json(_ objects: [[String: Any]]) throws -> String {
        let value: Any = objects.count == 1 ? objects[0] : objects
        return String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
    }

    static func detail(_ t: TaskRecord) -> String {
        var lines = ["Task \(t.id): \(TaskRecord.display(t.raw.project)) \(TaskRecord.display(t.raw.release)) → \(TaskRecord.display(t.raw.environment))",
                     "  state:    \(t.state.rawValue)" + (t.cancelRequested && !t.state.isTerminal ? " (cancel requested)" : "")]
        if let o = t.outcome { lines.append("  outcome:  \(o.rawValue)") }
        if let r = t.reason { lines.append("  reason:   \(r)") }
        if let c = t.changeNumber { lines.append("  change:   \(c)" + (t.changeLink.map { " (\($0.rawValue))" } ?? "")) }
        if let e = t.exitCode { lines.append("  exit:     \(e)") }
        for (k, d) in [("created ", t.createdAt), ("started ", t.startedAt), ("finished", t.finishedAt)] {
            if let d { lines.append("  \(k): \(Timestamp.format(d))") }
        }
        return lines.joined(separator: "\n")
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a task's log: state changes, ServiceNow decisions, the deploy command's output.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "The task id.") var id: Int64
    @Flag(name: .shortAndLong, help: "Follow the log until the task finishes.") var follow = false

    func run() async throws {
        try await reporting {
            try await store.withQueue(readOnly: true, command: "logs") { q in
                _ = try await q.task(id)
                var last: Int64 = 0
                while true {
                    for line in try await q.logLines(of: id, after: last) {
                        last = line.id
                        let tag = line.stream == .event ? "" : "[\(line.stream.rawValue)] "
                        print("\(Timestamp.format(line.at)) \(tag)\(line.text)")
                    }
                    guard follow else { return }
                    if try await q.task(id).state.isTerminal, try await q.logLines(of: id, after: last).isEmpty { return }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the daemon to cancel a task (sets cancel_requested). A running deploy command is stopped.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "The task id.") var id: Int64

    func run() async throws {
        try await reporting {
            try await store.withQueue(readOnly: false, command: "cancel") { q in
                if try await q.cancel(id) {
                    print("Cancellation of task \(id) requested.")
                } else {
                    throw CLIError.failure("task \(id) has already finished (\(try await q.task(id).state.rawValue)); nothing to cancel")
                }
            }
        }
    }
}

enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
