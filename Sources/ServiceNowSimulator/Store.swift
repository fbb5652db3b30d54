import Foundation
import ServiceNowModel

/// The instance's data: changes, approver rows and templates. One actor, so every change to a record and its
/// roll-up happens atomically. Rows live in arrays (creation order) with indexes by sys_id and number, so
/// lookups and `numberIN` queries stay fast with tens of thousands of changes.
actor SimulatorStore {
    let directory: Directory
    let clock: GlideClock
    let allowImplementToClosed: Bool

    /// nil marks a deleted row; indexes point into the arrays, so rows are never moved.
    var changes: [Row?] = []
    var changeBySysID: [String: Int] = [:]
    var changeByNumber: [String: Int] = [:]
    var approvals: [Row?] = []
    var approvalBySysID: [String: Int] = [:]
    var approvalsByChange: [String: [Int]] = [:]
    var templates: [SimTemplate] = TemplateSeeds.all
    var nextNumber = 30001
    /// The schedule-aware gate's tables (Schemas.scheduleTables), by name.
    var tables: [String: TableRows] = [:]
    /// Attachment content by sys_attachment sys_id.
    var attachmentData: [String: [UInt8]] = [:]
    /// Conflict checks by change sys_id, and CI association workers by sys_id (never persisted: a restart ends them).
    var conflictJobs: [String: ConflictJob] = [:]
    var workers: [String: SimWorker] = [:]
    /// `com.glide.attachment.max_size`, in bytes.
    var attachmentMaxBytes: Int
    /// Seconds a conflict check or worker takes.
    let jobDuration: TimeInterval
    var rng: SplitMix64
    /// Bumped by every mutation; the persister writes when it moved.
    private(set) var revision = 0

    init(directory: Directory, clock: GlideClock, seed: UInt64, allowImplementToClosed: Bool, attachmentMaxBytes: Int = 1024 << 20,
         jobDuration: TimeInterval = 0.06) {
        self.directory = directory
        self.jobDuration = jobDuration
        self.attachmentMaxBytes = attachmentMaxBytes
        self.clock = clock
        self.rng = SplitMix64(seed: seed)
        self.allowImplementToClosed = allowImplementToClosed
    }

    func touch() { revision += 1 }

    func newSysID() -> String {
        while true {
            let id = rng.sysID()
            if changeBySysID[id] == nil, approvalBySysID[id] == nil { return id }
        }
    }

    // MARK: Lookup

    func changeIndex(sysID: String) -> Int? { changeBySysID[sysID] }

    /// By number (CHG0030001) or sys_id.
    func changeIndex(key: String) -> Int? { changeByNumber[key] ?? changeBySysID[key] }

    func approvalRows(ofChange sysID: String) -> [(index: Int, row: Row)] {
        (approvalsByChange[sysID] ?? []).compactMap { i in approvals[i].map { (i, $0) } }
    }

    /// A row of any table a reference can point at, for display values and dot-walked queries.
    func lookup(table: String, sysID: String) -> (Row, TableSchema)? {
        switch table {
        case "change_request", "task":
            return changeBySysID[sysID].flatMap { changes[$0] }.map { ($0, Schemas.changeRequest) }
        case "sys_user":
            return directory.userRowIndex[sysID].map { (directory.userRows[$0], Schemas.user) }
        case "sysapproval_approver":
            return approvalBySysID[sysID].flatMap { approvals[$0] }.map { ($0, Schemas.approver) }
        default:
            return extraRow(table: table, sysID: sysID)
        }
    }

    /// Spec of a possibly dot-walked field (`approver.name`), nil when any step is unknown.
    func fieldSpec(_ path: String, in schema: TableSchema) -> FieldSpec? {
        guard let dot = path.firstIndex(of: ".") else { return schema[path] }
        guard let ref = schema[String(path[..<dot])]?.referencedTable, let target = Self.schema(forReferenced: ref) else { return nil }
        return fieldSpec(String(path[path.index(after: dot)...]), in: target)
    }

    static func schema(forReferenced table: String) -> TableSchema? {
        table == "task" ? Schemas.changeRequest : Schemas.tables[table]
    }

    /// Raw value of a possibly dot-walked field.
    func fieldValue(_ row: Row, _ path: String, in schema: TableSchema) -> String {
        guard let dot = path.firstIndex(of: ".") else { return row.value(path, in: schema) }
        let head = String(path[..<dot])
        guard let ref = schema[head]?.referencedTable,
              let (target, targetSchema) = lookup(table: ref, sysID: row.value(head, in: schema)) else { return "" }
        return fieldValue(target, String(path[path.index(after: dot)...]), in: targetSchema)
    }

    // MARK: Reset and persistence

    func reset() {
        changes = []
        changeBySysID = [:]
        changeByNumber = [:]
        approvals = []
        approvalBySysID = [:]
        approvalsByChange = [:]
        templates = TemplateSeeds.all
        nextNumber = 30001
        tables = [:]
        attachmentData = [:]
        conflictJobs = [:]
        workers = [:]
        touch()
    }

    func snapshot() -> PersistedState {
        PersistedState(version: 1, nextNumber: nextNumber, changes: changes.compactMap { $0 },
                       approvals: approvals.compactMap { $0 }, addedTemplates: templates.filter { !$0.seeded },
                       tables: tables.mapValues { $0.rows.compactMap { $0 } },
                       attachments: attachmentData.mapValues { Data($0).base64EncodedString() })
    }

    func restore(_ state: PersistedState) {
        reset()
        nextNumber = state.nextNumber
        for row in state.changes { appendChange(row) }
        for row in state.approvals { appendApproval(row) }
        templates += state.addedTemplates
        for (name, rows) in state.tables ?? [:] { for row in rows { insertRow(table: name, row) } }
        for (id, text) in state.attachments ?? [:] { attachmentData[id] = Data(base64Encoded: text).map { Array($0) } ?? [] }
        revision = 0
    }

    func appendChange(_ row: Row) {
        let i = changes.count
        changes.append(row)
        if let id = row["sys_id"] { changeBySysID[id] = i }
        if let number = row["number"] { changeByNumber[number] = i }
    }

    func appendApproval(_ row: Row) {
        let i = approvals.count
        approvals.append(row)
        if let id = row["sys_id"] { approvalBySysID[id] = i }
        if let change = row["sysapproval"] { approvalsByChange[change, default: []].append(i) }
    }

    func deleteChange(at index: Int) {
        guard let row = changes[index] else { return }
        changes[index] = nil
        changeBySysID[row.value("sys_id", in: Schemas.changeRequest)] = nil
        changeByNumber[row.value("number", in: Schemas.changeRequest)] = nil
        let id = row.value("sys_id", in: Schemas.changeRequest)
        for i in approvalsByChange[id] ?? [] {
            if let a = approvals[i] { approvalBySysID[a.value("sys_id", in: Schemas.approver)] = nil }
            approvals[i] = nil
        }
        approvalsByChange[id] = nil
        touch()
    }
}

/// What the state file holds.
struct PersistedState: Codable, Sendable {
    var version: Int
    var nextNumber: Int
    var changes: [Row]
    var approvals: [Row]
    var addedTemplates: [SimTemplate]
    /// CIs, affected CIs, schedules, spans, conflicts and attachment metadata (absent in older files).
    var tables: [String: [Row]]?
    /// Attachment content, base64, by sys_attachment sys_id.
    var attachments: [String: String]?
}
