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
    /// The batched poll: every change of `numbers` that can be read, by number.
    func statuses(numbers: [String]) async throws(ServiceNowError) -> [String: ChangeSnapshot]
}

extension ServiceNowClient: ChangeService {
    public var maxWorkInFlight: Int { 2 * max(4, configuration.maxConcurrentRequests) }

    public func changes(correlationID: String) async throws(ServiceNowError) -> [ChangeSnapshot] {
        try await searchChanges(ChangeQuery().correlationID(.equals(correlationID)), limit: 10)
    }

    public func openChanges(titled title: String) async throws(ServiceNowError) -> [ChangeSnapshot] {
        try await searchChanges(ChangeQuery().shortDescription(.equals(title)).state(.notIn([.review, .closed, .canceled])), limit: 50)
            .filter { $0.shortDescription == title && $0.state.isOpen }
    }
}
