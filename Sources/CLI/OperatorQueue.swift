import AuditTrail
import Foundation
import PostgresQueue
import QueueContract
import QueueStore

/// What the operator's commands (`logs`, `enqueue`, `cancel`, `audit verify`/`export`) need of the queue, on
/// either backend, so each command is written once.
protocol OperatorQueue: Sendable {
    func task(_ id: Int64) async throws(QueueStoreError) -> TaskRecord
    func logLines(of id: Int64, after lineID: Int64) async throws(QueueStoreError) -> [LogLine]
    func queue(_ request: EnqueueRequest) async throws(QueueStoreError) -> Int64
    func cancel(_ id: Int64) async throws(QueueStoreError) -> Bool
    func tasks(createdFrom from: Date?, to: Date?) async throws(QueueStoreError) -> [TaskRecord]
    func auditRecords(ofTask id: Int64) async throws(QueueStoreError) -> [AuditRecord]
    func verifyChain() async throws(QueueStoreError) -> (count: Int, head: AuditHead, failure: AuditFailure?)
}

/// The columns `changegate enqueue` sets, as a producer's INSERT would.
struct EnqueueRequest: Sendable {
    var project: String, environment: String, release: String
    var changeNumber: String?, requestedBy: String?, variables: String?, changeType: String?
    var idempotencyKey: String?, notBefore: String?, changeTemplate: String?
}

extension QueueStore: OperatorQueue {
    func logLines(of id: Int64, after lineID: Int64) throws(QueueStoreError) -> [LogLine] { try log(of: id, after: lineID) }
    func queue(_ r: EnqueueRequest) throws(QueueStoreError) -> Int64 {
        try enqueue(project: r.project, environment: r.environment, release: r.release, changeNumber: r.changeNumber,
                    requestedBy: r.requestedBy, variables: r.variables, changeType: r.changeType,
                    idempotencyKey: r.idempotencyKey, notBefore: r.notBefore, changeTemplate: r.changeTemplate)
    }
    func cancel(_ id: Int64) throws(QueueStoreError) -> Bool { try requestCancel(id) }
    func verifyChain() throws(QueueStoreError) -> (count: Int, head: AuditHead, failure: AuditFailure?) { try verifyAuditChain() }
}

extension PostgresQueueStore: OperatorQueue {
    func task(_ id: Int64) async throws(QueueStoreError) -> TaskRecord {
        guard let task = try await record(id) else { throw .notFound(id: id) }
        return task
    }
    func logLines(of id: Int64, after lineID: Int64) async throws(QueueStoreError) -> [LogLine] { try await log(of: id, after: lineID, limit: 10_000) }
    func queue(_ r: EnqueueRequest) async throws(QueueStoreError) -> Int64 {
        try await enqueue(project: r.project, environment: r.environment, release: r.release, changeNumber: r.changeNumber,
                          requestedBy: r.requestedBy, variables: r.variables, changeType: r.changeType,
                          idempotencyKey: r.idempotencyKey, notBefore: r.notBefore, changeTemplate: r.changeTemplate)
    }
    func cancel(_ id: Int64) async throws(QueueStoreError) -> Bool { try await requestCancel(id) }
    func verifyChain() async throws(QueueStoreError) -> (count: Int, head: AuditHead, failure: AuditFailure?) { try await verifyAuditChain() }
}

extension StoreOptions {
    /// Runs `body` on the config's queue: the SQLite file (read-only when asked), or the PostgreSQL database,
    /// connected for the command's length and never migrated by it (the daemon does that).
    func withQueue<Result: Sendable>(readOnly: Bool, command: String,
                                     _ body: (any OperatorQueue) async throws -> Result) async throws -> Result {
        guard let postgres = try postgres(command: command) else { return try await body(open(readOnly: readOnly)) }
        return try await PostgresQueueStore.withStore(postgres.endpoint, logger: quietLogger("changegate.\(command)"), migrate: false) { q in
            try await body(q)
        }
    }
}
