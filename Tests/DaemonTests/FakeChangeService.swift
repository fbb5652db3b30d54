import Daemon
import Foundation
import ServiceNowClient
import ServiceNowModel
import Synchronization

/// An in-memory ServiceNow for the scheduler: changes by number, a record of every call, scripted faults.
final class FakeChangeService: ChangeService {
    struct State {
        var changes: [String: ChangeSnapshot] = [:]
        var workNotes: [String: [String]] = [:]
        var calls: [String] = []
        /// The numbers each batched poll asked for.
        var polls: [[String]] = []
        var nextNumber = 1000
        /// The next calls of these kinds fail with this error (once each).
        var failNext: [String: ServiceNowError] = [:]
    }

    let name: String
    let maxWorkInFlight: Int
    let state = Mutex(State())

    init(name: String = "sim", maxWorkInFlight: Int = 8) {
        self.name = name
        self.maxWorkInFlight = maxWorkInFlight
    }

    /// Adds or replaces a change (as an approver clicking in ServiceNow would).
    @discardableResult
    func put(_ number: String? = nil, state: ChangeState, approval: ApprovalState = .approved, start: Date? = nil, end: Date? = nil,
             title: String = "", correlationID: String = "") -> ChangeSnapshot {
        self.state.withLock { s in
            let number = number ?? { s.nextNumber += 1; return "CHG000\(s.nextNumber)" }()
            let change = ChangeSnapshot(sysID: "sys-\(number)", number: number, state: state, approval: approval, type: .normal,
                                        plannedStart: start, plannedEnd: end, shortDescription: title, correlationID: correlationID)
            s.changes[number] = change
            return change
        }
    }

    func set(_ number: String, state: ChangeState, approval: ApprovalState? = nil) {
        self.state.withLock { s in
            s.changes[number]?.state = state
            if let approval { s.changes[number]?.approval = approval }
        }
    }

    func fail(_ call: String, with error: ServiceNowError) { state.withLock { $0.failNext[call] = error } }

    var all: [ChangeSnapshot] { state.withLock { Array($0.changes.values) } }
    var polls: [[String]] { state.withLock { $0.polls } }
    var calls: [String] { state.withLock { $0.calls } }
    func notes(_ number: String) -> [String] { state.withLock { $0.workNotes[number] ?? [] } }

    private func call(_ kind: String) throws(ServiceNowError) {
        let failure = state.withLock { s -> ServiceNowError? in
            s.calls.append(kind)
            return s.failNext.removeValue(forKey: kind)
        }
        if let failure { throw failure }
    }

    func change(sysID: String) async throws(ServiceNowError) -> ChangeSnapshot {
        try call("change")
        guard let c = state.withLock({ $0.changes.values.first { $0.sysID == sysID } }) else {
            throw .notFound(connection: name, what: "change request with sys_id \(sysID)")
        }
        return c
    }

    func change(number: String) async throws(ServiceNowError) -> ChangeSnapshot? {
        try call("changeByNumber")
        return state.withLock { $0.changes[number] }
    }

    func changes(correlationID: String) async throws(ServiceNowError) -> [ChangeSnapshot] {
        try call("correlation")
        return state.withLock { s in s.changes.values.filter { $0.correlationID == correlationID } }
    }

    func openChanges(titled title: String) async throws(ServiceNowError) -> [ChangeSnapshot] {
        try call("title")
        return state.withLock { s in s.changes.values.filter { $0.shortDescription == title && $0.state.isOpen } }
    }

    func createChange(_ type: ChangeType, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot {
        try call("create")
        return put(state: .new, approval: .requested, title: fields["short_description"] ?? "", correlationID: fields["correlation_id"] ?? "")
    }

    func standardTemplate(named name: String) async throws(ServiceNowError) -> StandardChangeTemplate? { nil }

    func createStandardChange(templateSysID: String, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot {
        try await createChange(.standard, fields: fields)
    }

    func updateChange(sysID: String, _ update: ChangeUpdate) async throws(ServiceNowError) -> ChangeSnapshot {
        try call("update")
        return try state.withLock { s throws(ServiceNowError) -> ChangeSnapshot in
            guard let number = s.changes.values.first(where: { $0.sysID == sysID })?.number else {
                throw .notFound(connection: name, what: sysID)
            }
            if let state = update.state { s.changes[number]?.state = state }
            if let notes = update.workNotes { s.workNotes[number, default: []].append(notes) }
            return s.changes[number]!
        }
    }

    func approvers(ofChange sysID: String) async throws(ServiceNowError) -> [ApproverRecord] {
        try call("approvers")
        return []
    }

    func statuses(numbers: [String]) async throws(ServiceNowError) -> [String: ChangeSnapshot] {
        state.withLock { $0.polls.append(numbers) }
        try call("statuses")
        return state.withLock { s in s.changes.filter { numbers.contains($0.key) } }
    }
}
