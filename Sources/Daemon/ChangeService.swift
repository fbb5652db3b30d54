import Foundation
import ServiceNowClient
import ServiceNowModel

/// The scheduler's view of one ServiceNow connection: the calls a deployment's life needs, at the level of
/// intent. `ServiceNowClient` is the real one; tests run the scheduler against an in-memory fake.
public protocol ChangeService: Sendable {
    /// The connection's name in the config, for messages.
    var name: String { get }
    /// ServiceNow work (not polls) the scheduler keeps in flight on this connection at most.
    var maxWorkInFlight: Int { get }
    func change(sysID: String) async throws(ServiceNowError) -> ChangeSnapshot
    func change(number: String) async throws(ServiceNowError) -> ChangeSnapshot?
    /// Changes carrying this correlation id (an earlier attempt of the same task).
    func changes(correlationID: String) async throws(ServiceNowError) -> [ChangeSnapshot]
    /// Open changes (not Review, Closed or Canceled) whose short description is exactly `title`.
    func openChanges(titled title: String) async throws(ServiceNowError) -> [ChangeSnapshot]
    func createChange(_ type: ChangeType, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot
    func standardTemplate(named name: String) async throws(ServiceNowError) -> StandardChangeTemplate?
    func createStandardChange(templateSysID: String, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot
    func updateChange(sysID: String, _ update: ChangeUpdate) async throws(ServiceNowError) -> ChangeSnapshot
    func approvers(ofChange sysID: String) async throws(ServiceNowError) -> [ApproverRecord]
    /// The batched read (the reconcile, and changes newly watched): every change of `numbers` that can be read, by number.
    func statuses(numbers: [String]) async throws(ServiceNowError) -> [String: ChangeSnapshot]
    /// The delta poll: every change updated in the last `seconds` by the instance's clock, watched or not.
    func changesUpdated(withinLast seconds: Int) async throws(ServiceNowError) -> [ChangeSnapshot]
    /// Counts the connection's requests; polls start only when it allows.
    var requestBudget: RequestBudget { get }
    /// Changes one request of `statuses(numbers:)` reads.
    var readBatchSize: Int { get }

    // The schedule-aware gate and the evidence (docs/schedule-gate.md).
    /// Starts the instance's conflict check of the change (`POST …/change/{sys_id}/conflict`).
    func runConflictCheck(sysID: String) async throws(ServiceNowError)
    /// The conflict check's current report (`GET …/change/{sys_id}/conflict`).
    func conflictReport(sysID: String) async throws(ServiceNowError) -> ConflictReport
    /// Spans of the blackout schedules that apply to the change (its CIs, or every change) overlapping `from…to`.
    func blackoutSpans(changeSysID: String, from: Date, to: Date) async throws(ServiceNowError) -> [BlackoutSpan]
    /// A configuration item by sys_id or by exact name; nil when there is none.
    func configurationItem(_ nameOrSysID: String) async throws(ServiceNowError) -> ConfigurationItem?
    /// Associates CIs as affected CIs of the change (`POST …/change/{sys_id}/ci`, association_type affected).
    func addAffectedCIs(changeSysID: String, ciSysIDs: [String]) async throws(ServiceNowError)
    /// Attaches a file to the change (`POST /api/now/attachment/file`).
    func attach(changeSysID: String, fileName: String, contentType: String, data: Data) async throws(ServiceNowError) -> AttachmentRecord
    /// The states the change may move to now (`GET …/change/{sys_id}/nextstates`).
    func nextStates(sysID: String) async throws(ServiceNowError) -> [ChangeState]
}

extension ServiceNowClient: ChangeService {
    public var maxWorkInFlight: Int { 2 * max(4, configuration.maxConcurrentRequests) }
    public var readBatchSize: Int { max(1, configuration.statusBatchSize) }

    public func changes(correlationID: String) async throws(ServiceNowError) -> [ChangeSnapshot] {
        try await searchChanges(ChangeQuery().correlationID(.equals(correlationID)), limit: 10)
    }

    public func openChanges(titled title: String) async throws(ServiceNowError) -> [ChangeSnapshot] {
        try await searchChanges(ChangeQuery().shortDescription(.equals(title)).state(.notIn([.review, .closed, .canceled])), limit: 50)
            .filter { $0.shortDescription == title && $0.state.isOpen }
    }
}
