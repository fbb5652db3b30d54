import ServiceNowModel

/// How a field is stored and shown. ServiceNow keeps every value as text; the type decides how the
/// Change API types it in JSON, how a display value is made and how queries compare it.
enum FieldType: Sendable, Equatable {
    case string
    case integer
    case boolean
    case dateTime
    /// Reference to a row of another table (value is a sys_id).
    case reference(String)
    /// Journal (work notes, comments): writes append an entry, the raw value always reads back "".
    case journal
}

struct FieldSpec: Sendable {
    let name: String
    let type: FieldType
    let defaultValue: String
    /// value → label; empty when the field has no choice list.
    let choices: [String: String]
    /// Shown for an empty value ("UNKNOWN" for SLA dates, as a real instance does).
    let emptyDisplay: String
    /// Whether an API caller may set the field; others are reported in `__meta.ignoredFields`.
    let writable: Bool

    var isNumeric: Bool { type == .integer }
    var referencedTable: String? { if case .reference(let t) = type { t } else { nil } }
}

struct TableSchema: Sendable {
    let name: String
    let fields: [FieldSpec]
    let byName: [String: FieldSpec]

    init(name: String, fields: [FieldSpec]) {
        self.name = name
        self.fields = fields
        self.byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    subscript(field: String) -> FieldSpec? { byName[field] }
    var fieldNames: [String] { fields.map(\.name) }
}

// Small constructors keep the schema tables below readable, one field a line.
private func f(_ name: String, _ type: FieldType = .string, _ def: String = "", choices: [String: String] = [:],
               empty: String = "", ro: Bool = false) -> FieldSpec {
    FieldSpec(name: name, type: type, defaultValue: def, choices: choices, emptyDisplay: empty, writable: !ro)
}

enum Choices {
    static let state = Dictionary(uniqueKeysWithValues: ChangeState.allCases.map { (String($0.rawValue), $0.displayName) })
    static let type = Dictionary(uniqueKeysWithValues: ChangeType.allCases.map { ($0.rawValue, $0.displayName) })
    static let approval = ["not requested": "Not Yet Requested", "requested": "Requested", "approved": "Approved",
                           "rejected": "Rejected", "cancelled": "Cancelled", "not_required": "No Longer Required",
                           "skipped": "Skipped", "duplicate": "Duplicate"]
    static let impact = ["1": "1 - High", "2": "2 - Medium", "3": "3 - Low"]
    static let priority = ["1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"]
    static let risk = ["1": "Very High", "2": "High", "3": "Moderate", "4": "Low"]
    static let scope = ["1": "Extra Large", "2": "Large", "3": "Medium", "4": "Small", "5": "Extra Small"]
    static let escalation = ["0": "Normal", "1": "Moderate", "2": "High", "3": "Overdue"]
    static let closeCode = Dictionary(uniqueKeysWithValues: CloseCode.allCases.map {
        ($0.rawValue, $0 == .successful ? "Successful" : $0 == .successfulIssues ? "Successful with issues" : "Unsuccessful")
    })
    static let phase = ["requested": "Requested", "planning": "Planning", "implementation": "Implementation",
                        "review": "Review", "closed": "Closed"]
    static let phaseState = ["open": "Open", "closed": "Closed", "on_hold": "On Hold"]
    static let uponReject = ["cancel": "Cancel all future Tasks", "goto": "Go to a previous Task"]
    static let uponApproval = ["proceed": "Proceed to Next Task", "do_nothing": "Wait for a User to Close this task"]
    static let conflict = ["Not Run": "Not Run", "Conflict": "Conflict", "No Conflict": "No Conflict"]
    static let contactType = ["email": "Email", "phone": "Phone", "self-service": "Self-service", "walk-in": "Walk-in"]
}

enum Schemas {
    /// `change_request`, in the order and with the defaults of a record captured from a real instance
    /// (reference/responses/getNormalChangeRequestById.json), plus `chg_model` from newer releases.
    static let changeRequest = TableSchema(name: "change_request", fields: [
        f("sys_id", ro: true), f("reason"), f("parent", .reference("task")), f("watch_list"),
        f("upon_reject", .string, "cancel", choices: Choices.uponReject),
        f("sys_updated_on", .dateTime, ro: true),
        f("type", .string, "normal", choices: Choices.type, ro: true),
        f("approval_history", .journal, ro: true), f("test_plan"), f("number", ro: true),
        f("cab_delegate", .reference("sys_user")), f("requested_by_date", .dateTime),
        f("state", .integer, "-5", choices: Choices.state),
        f("sys_created_by", ro: true), f("knowledge", .boolean, "false"), f("order", .integer),
        f("phase", .string, "requested", choices: Choices.phase, ro: true), f("cmdb_ci", .reference("cmdb_ci")),
        f("delivery_plan", .reference("sc_cat_item_delivery_plan")), f("impact", .integer, "3", choices: Choices.impact),
        f("active", .boolean, "true", ro: true), f("work_notes_list"),
        f("priority", .integer, "4", choices: Choices.priority), f("sys_domain_path", .string, "/", ro: true),
        f("production_system", .boolean, "false"), f("cab_recommendation"), f("rejection_goto", .reference("task")),
        f("review_date", .dateTime), f("requested_by", .reference("sys_user")), f("business_duration"),
        f("group_list"), f("change_plan"), f("approval_set", .dateTime), f("wf_activity", .reference("wf_activity")),
        f("implementation_plan"), f("end_date", .dateTime), f("short_description"), f("correlation_display"),
        f("delivery_task", .reference("sc_cat_item_delivery_task")), f("work_start", .dateTime),
        f("outside_maintenance_schedule", .boolean, "false"), f("additional_assignee_list"),
        f("std_change_producer_version", .reference("std_change_producer_version"), ro: true),
        f("chg_model", .reference("chg_model"), ro: true),
        f("sys_class_name", .string, "change_request", choices: ["change_request": "Change Request"], ro: true),
        f("closed_by", .reference("sys_user"), ro: true), f("follow_up", .dateTime), f("review_status"),
        f("reassignment_count", .integer, "0"), f("start_date", .dateTime), f("assigned_to", .reference("sys_user")),
        f("variables", .string, "variable_pool", ro: true), f("sla_due", .dateTime, empty: "UNKNOWN"),
        f("comments_and_work_notes", .journal, ro: true),
        f("escalation", .integer, "0", choices: Choices.escalation),
        f("upon_approval", .string, "proceed", choices: Choices.uponApproval), f("correlation_id"),
        f("made_sla", .boolean, "true"), f("backout_plan"),
        f("conflict_status", .string, "Not Run", choices: Choices.conflict), f("sys_updated_by", ro: true),
        f("opened_by", .reference("sys_user"), ro: true), f("user_input"), f("sys_created_on", .dateTime, ro: true),
        f("on_hold_task", .reference("task")), f("sys_domain", .string, "global", ro: true),
        f("closed_at", .dateTime, ro: true), f("review_comments"), f("business_service", .reference("cmdb_ci_service")),
        f("time_worked"), f("expected_start", .dateTime), f("opened_at", .dateTime, ro: true), f("work_end", .dateTime),
        f("phase_state", .string, "open", choices: Choices.phaseState, ro: true), f("cab_date", .dateTime),
        f("work_notes", .journal), f("close_code", choices: Choices.closeCode),
        f("assignment_group", .reference("sys_user_group")), f("description"), f("on_hold_reason"),
        f("calendar_duration"), f("close_notes"), f("contact_type", choices: Choices.contactType),
        f("cab_required", .boolean, "false"), f("urgency", .integer, "3", choices: Choices.impact),
        f("scope", .integer, "3", choices: Choices.scope), f("company", .reference("core_company")),
        f("justification"), f("activity_due", .dateTime, empty: "UNKNOWN"), f("comments", .journal),
        f("approval", .string, "not requested", choices: Choices.approval, ro: true), f("due_date", .dateTime),
        f("on_hold", .boolean, "false"), f("sys_tags", ro: true), f("conflict_last_run", .dateTime),
        f("risk", .integer, "3", choices: Choices.risk), f("location", .reference("cmn_location")),
        f("category", .string, "Other"), f("risk_impact_analysis"),
    ])

    /// `sysapproval_approver`: one row per approver and change.
    static let approver = TableSchema(name: "sysapproval_approver", fields: [
        f("sys_id", ro: true), f("sysapproval", .reference("task")), f("document_id", .reference("change_request")),
        f("source_table", .string, "change_request"), f("approver", .reference("sys_user")),
        f("state", .string, "requested", choices: Choices.approval), f("comments", .journal),
        f("group", .reference("sysapproval_group")), f("approval_source"), f("order", .integer),
        f("due_date", .dateTime), f("expected_start", .dateTime),
        f("sys_created_on", .dateTime, ro: true), f("sys_created_by", ro: true),
        f("sys_updated_on", .dateTime, ro: true), f("sys_updated_by", ro: true), f("sys_mod_count", .integer, "0", ro: true),
    ])

    /// `sys_user`: the seeded users (passwords and tokens are never shown).
    static let user = TableSchema(name: "sys_user", fields: [
        f("sys_id", ro: true), f("user_name"), f("name"), f("first_name"), f("last_name"), f("email"), f("title"),
        f("active", .boolean, "true"), f("locked_out", .boolean, "false"), f("web_service_access_only", .boolean, "false"),
        f("roles"), f("sys_class_name", .string, "sys_user", choices: ["sys_user": "User"], ro: true),
        f("sys_created_on", .dateTime, ro: true), f("sys_created_by", .string, "admin", ro: true),
        f("sys_updated_on", .dateTime, ro: true), f("sys_updated_by", .string, "admin", ro: true),
    ])

    /// Standard change templates, queryable by the fields a caller filters on.
    static let template = TableSchema(name: "std_change_record_producer", fields: [
        f("sys_id", ro: true), f("name"), f("sys_name"), f("short_description"), f("description"),
        f("active", .boolean, "true"), f("sys_class_name", .string, "std_change_record_producer"),
        f("sys_created_on", .dateTime), f("sys_updated_on", .dateTime),
    ])

    static let tables: [String: TableSchema] = {
        var all = [changeRequest.name: changeRequest, approver.name: approver, user.name: user]
        for t in scheduleTables { all[t.name] = t }
        for view in scheduleViews.keys { all[view] = TableSchema(name: view, fields: schedule.fields) }
        return all
    }()
}
