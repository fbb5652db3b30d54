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
        /// How far back each delta poll reached, in seconds.
        var deltas: [Int] = []
        /// The instance's clock, for `sys_updated_on` (the scheduler's ManualClock in the harness).
        var now: @Sendable () -> Date = { Date() }
        /// Conflict reports answered in turn; the last one repeats. Empty: no conflict.
        var conflictReports: [ConflictReport] = []
        var blackouts: [BlackoutSpan] = []
        /// Attachments made, by change number.
        var attachments: [String: [(name: String, type: String, data: Data)]] = [:]
        /// The next this many attach calls fail (transiently).
        var attachFailures = 0
        /// Known CIs by name (nil: every name is a CI).
        var cis: Set<String>?
        var affectedCIs: [String: [String]] = [:]
        var createdFields: [[String: String]] = []
        var standardTemplates: Set<String> = []
        /// States each change moved through by update.
        var moves: [String: [ChangeState]] = [:]
        /// Next states offered, when set; otherwise Implement → Review/Canceled, Review → Closed.
        var nextStates: [ChangeState: [ChangeState]]?
    }

    let name: String
    let maxWorkInFlight: Int
    let state = Mutex(State())
    let requestBudget: RequestBudget
    let readBatchSize = 100

    init(name: String = "sim", maxWorkInFlight: Int = 8, requestsPerHour: Int = 1_000_000) {
        self.name = name
        self.maxWorkInFlight = maxWorkInFlight
        self.requestBudget = RequestBudget(perHour: requestsPerHour, now: Date(timeIntervalSince1970: 0))
    }

    /// Uses `clock` as the instance's clock.
    func follow(_ clock: ManualClock) { state.withLock { $0.now = { clock.now() } } }

    /// Adds or replaces a change (as an approver clicking in ServiceNow would).
    @discardableResult
    func put(_ number: String? = nil, state: ChangeState, approval: ApprovalState = .approved, start: Date? = nil, end: Date? = nil,
             title: String = "", correlationID: String = "") -> ChangeSnapshot {
        self.state.withLock { s in
            let number = number ?? { s.nextNumber += 1; return "CHG000\(s.nextNumber)" }()
            let change = ChangeSnapshot(sysID: "sys-\(number)", number: number, state: state, approval: approval, type: .normal,
                                        plannedStart: start, plannedEnd: end, shortDescription: title, correlationID: correlationID,
                                        updatedOn: s.now())
            s.changes[number] = change
            return change
        }
    }

    func set(_ number: String, state: ChangeState, approval: ApprovalState? = nil) {
        self.state.withLock { s in
            s.changes[number]?.state = state
            if let approval { s.changes[number]?.approval = approval }
            s.changes[number]?.updatedOn = s.now()
        }
    }

    /// Changes a field without touching `sys_updated_on`: an update the delta poll cannot see (only a reconcile can).
    func setUnseen(_ number: String, state: ChangeState) { self.state.withLock { $0.changes[number]?.state = state } }

    var deltas: [Int] { state.withLock { $0.deltas } }

    func fail(_ call: String, with error: ServiceNowError) { state.withLock { $0.failNext[call] = error } }

    var all: [ChangeSnapshot] { state.withLock { Array($0.changes.values) } }
    var polls: [[String]] { state.withLock { $0.polls } }
    var calls: [String] { state.withLock { $0.calls } }
    func notes(_ number: String) -> [String] { state.withLock { $0.workNotes[number] ?? [] } }

    private func call(_ kind: String) throws(ServiceNowError) {
        let failure = state.withLock { s -> ServiceNowError? in
            s.calls.append(kind)
            requestBudget.spend(at: s.now())
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
        state.withLock { $0.createdFields.append(fields) }
        var c = put(state: .new, approval: .requested, title: fields["short_description"] ?? "", correlationID: fields["correlation_id"] ?? "")
        c.type = type
        state.withLock { [c] in $0.changes[c.number]?.type = type }
        return c
    }

    func standardTemplate(named name: String) async throws(ServiceNowError) -> StandardChangeTemplate? {
        try call("template")
        return state.withLock { $0.standardTemplates.contains(name) } ? StandardChangeTemplate(sysID: "tpl-\(name)", name: name) : nil
    }

    func createStandardChange(templateSysID: String, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot {
        var f = fields
        f["template"] = templateSysID
        return try await createChange(.standard, fields: f)
    }

    /// A change of `type` (for close-out tests).
    func setType(_ number: String, _ type: ChangeType) { state.withLock { $0.changes[number]?.type = type } }
    func script(conflicts: [ConflictReport]) { state.withLock { $0.conflictReports = conflicts } }
    func script(blackouts: [BlackoutSpan]) { state.withLock { $0.blackouts = blackouts } }
    func failAttach(times: Int) { state.withLock { $0.attachFailures = times } }
    func attachments(_ number: String) -> [(name: String, type: String, data: Data)] { state.withLock { $0.attachments[number] ?? [] } }
    func moves(_ number: String) -> [ChangeState] { state.withLock { $0.moves[number] ?? [] } }
    var createdFields: [[String: String]] { state.withLock { $0.createdFields } }
    func affectedCIs(_ number: String) -> [String] { state.withLock { $0.affectedCIs[number] ?? [] } }
    func addTemplate(_ name: String) { _ = state.withLock { $0.standardTemplates.insert(name) } }
    func knownCIs(_ names: Set<String>) { state.withLock { $0.cis = names } }
    func offer(_ next: [ChangeState: [ChangeState]]) { state.withLock { $0.nextStates = next } }

    func updateChange(sysID: String, _ update: ChangeUpdate) async throws(ServiceNowError) -> ChangeSnapshot {
        try call("update")
        return try state.withLock { s throws(ServiceNowError) -> ChangeSnapshot in
            guard let number = s.changes.values.first(where: { $0.sysID == sysID })?.number else {
                throw .notFound(connection: name, what: sysID)
            }
            if let state = update.state {
                s.changes[number]?.state = state
                s.moves[number, default: []].append(state)
            }
            s.changes[number]?.updatedOn = s.now()
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

    func changesUpdated(withinLast seconds: Int) async throws(ServiceNowError) -> [ChangeSnapshot] {
        state.withLock { $0.deltas.append(seconds) }
        try call("delta")
        return state.withLock { s in
            let since = s.now().addingTimeInterval(-Double(seconds))
            return s.changes.values.filter { ($0.updatedOn ?? .distantPast) >= since }
        }
    }

    // The schedule-aware gate: scripted conflict reports and blackout spans; nothing in conflict by default.
    func runConflictCheck(sysID: String) async throws(ServiceNowError) { try call("conflictCheck") }
    func conflictReport(sysID: String) async throws(ServiceNowError) -> ConflictReport {
        try call("conflictReport")
        return state.withLock { s in
            guard let first = s.conflictReports.first else { return ConflictReport(status: .noConflict) }
            if s.conflictReports.count > 1 { s.conflictReports.removeFirst() }
            return first
        }
    }
    func blackoutSpans(changeSysID: String, from: Date, to: Date) async throws(ServiceNowError) -> [BlackoutSpan] {
        try call("blackouts")
        return state.withLock { $0.blackouts.filter { $0.end > from && $0.start < to } }
    }
    func configurationItem(_ nameOrSysID: String) async throws(ServiceNowError) -> ConfigurationItem? {
        try call("ci")
        guard state.withLock({ $0.cis.map { $0.contains(nameOrSysID) } ?? true }) else { return nil }
        return ConfigurationItem(sysID: "ci-\(nameOrSysID)", name: nameOrSysID)
    }
    func addAffectedCIs(changeSysID: String, ciSysIDs: [String]) async throws(ServiceNowError) {
        try call("addCIs")
        state.withLock { s in
            if let number = s.changes.values.first(where: { $0.sysID == changeSysID })?.number { s.affectedCIs[number, default: []] += ciSysIDs }
        }
    }
    func attach(changeSysID: String, fileName: String, contentType: String, data: Data) async throws(ServiceNowError) -> AttachmentRecord {
        try call("attach")
        let failing = state.withLock { s -> Bool in
            guard s.attachFailures > 0 else { return false }
            s.attachFailures -= 1
            return true
        }
        if failing { throw .serverError(connection: name, status: 503, message: "attachment service down") }
        state.withLock { s in
            if let number = s.changes.values.first(where: { $0.sysID == changeSysID })?.number {
                s.attachments[number, default: []].append((fileName, contentType, data))
            }
        }
        return AttachmentRecord(sysID: "att-\(fileName)", fileName: fileName, contentType: contentType, sizeBytes: data.count, hash: "")
    }
    func nextStates(sysID: String) async throws(ServiceNowError) -> [ChangeState] {
        try call("nextStates")
        return state.withLock { s in
            guard let current = s.changes.values.first(where: { $0.sysID == sysID })?.state else { return [] }
            if let offered = s.nextStates { return offered[current] ?? [] }
            switch current {
            case .implement: return [.review, .canceled]
            case .review: return [.closed]
            default: return []
            }
        }
    }
}
