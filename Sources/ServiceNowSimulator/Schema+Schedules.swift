import ServiceNowModel

// The tables of the schedule-aware gate: CIs, affected CIs, blackout and maintenance schedules with their entries,
// conflicts and attachments. Field names follow the ServiceNow documentation (API-NOTES.md, "Schedules, conflicts,
// CIs, attachments"); each table keeps only the fields a caller reads.
private func c(_ name: String, _ type: FieldType = .string, _ def: String = "", choices: [String: String] = [:],
               ro: Bool = false) -> FieldSpec {
    FieldSpec(name: name, type: type, defaultValue: def, choices: choices, emptyDisplay: "", writable: !ro)
}

private let audit = [
    c("sys_created_on", .dateTime, ro: true), c("sys_created_by", ro: true),
    c("sys_updated_on", .dateTime, ro: true), c("sys_updated_by", ro: true), c("sys_mod_count", .integer, "0", ro: true),
]

extension Choices {
    static let scheduleType = ["blackout": "Blackout", "maintenance": "Maintenance", "excluded": "Excluded"]
    static let repeatType = ["": "Doesn't repeat", "daily": "Daily", "weekdays": "Every Weekday (Mon-Fri)",
                             "weekends": "Every Weekend (Sat, Sun)", "weekly": "Weekly", "monthly": "Monthly", "yearly": "Yearly"]
    static let conflictType = ["blackout": "Blackout", "not_in_maintenance_window": "Not In Maintenance Window",
                               "ci_already_scheduled": "CI Already Scheduled"]
}

extension Schemas {
    static let ci = TableSchema(name: "cmdb_ci", fields: [
        c("sys_id", ro: true), c("name"), c("short_description"), c("sys_class_name", .string, "cmdb_ci", ro: true),
        c("maintenance_schedule", .reference("cmn_schedule")), c("operational_status", .integer, "1"),
        c("install_status", .integer, "1"),
    ] + audit)

    /// Affected CIs: one row per change and CI.
    static let taskCI = TableSchema(name: "task_ci", fields: [
        c("sys_id", ro: true), c("task", .reference("task")), c("ci_item", .reference("cmdb_ci")),
        c("applied", .boolean, "false"),
    ] + audit)

    /// Blackout and maintenance schedules. A blackout (`cmn_schedule_blackout`, a condition schedule) applies to every
    /// change when `applies_to` is empty, else to changes with a CI of the `applies_to` table matching `condition`.
    static let schedule = TableSchema(name: "cmn_schedule", fields: [
        c("sys_id", ro: true), c("name"), c("description"), c("type", choices: Choices.scheduleType),
        c("sys_class_name", .string, "cmn_schedule", ro: true), c("time_zone"), c("applies_to"), c("condition"),
    ] + audit)

    /// Schedule entries. Times are the schedule's wall clock, `YYYYMMDDTHHMMSS` (a `Z` suffix: UTC).
    static let span = TableSchema(name: "cmn_schedule_span", fields: [
        c("sys_id", ro: true), c("schedule", .reference("cmn_schedule")), c("name"), c("type", choices: Choices.scheduleType),
        c("show_as", .string, "busy"), c("start_date_time"), c("end_date_time"), c("all_day", .boolean, "false"),
        c("repeat_type", choices: Choices.repeatType), c("repeat_count", .integer, "1"), c("days_of_week"),
        c("repeat_until"),
    ] + audit)

    /// What a conflict check found, one row per (type, CI, schedule or other change).
    static let conflict = TableSchema(name: "conflict", fields: [
        c("sys_id", ro: true), c("change", .reference("change_request")), c("type", choices: Choices.conflictType),
        c("configuration_item", .reference("cmdb_ci")), c("schedule", .reference("cmn_schedule")),
        c("conflicting_change", .reference("change_request")), c("last_checked", .dateTime),
        c("related_configuration_item", .reference("cmdb_ci")),
    ] + audit)

    /// Attachment metadata; the content is kept beside it.
    static let attachment = TableSchema(name: "sys_attachment", fields: [
        c("sys_id", ro: true), c("file_name"), c("content_type"), c("size_bytes", .integer), c("size_compressed", .integer),
        c("compressed", .boolean, "false"), c("table_name"), c("table_sys_id"), c("hash"), c("average_image_color"),
        c("image_height"), c("image_width"), c("sys_tags"),
    ] + audit)

    /// The tables kept in `SimulatorStore.tables`, by name. `cmn_schedule_blackout` and `cmn_schedule_maintenance`
    /// are views of `cmn_schedule` (the instance's tables extending it).
    static let scheduleTables: [TableSchema] = [ci, taskCI, schedule, span, conflict, attachment]
    static let scheduleViews: [String: String] = ["cmn_schedule_blackout": "blackout", "cmn_schedule_maintenance": "maintenance"]
}
