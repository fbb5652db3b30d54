import TOMLKit

/// The keys of the schedule-aware gate and the evidence (docs/schedule-gate.md), in `[projects.NAME]` and,
/// for the overridable ones, in `[projects.NAME.environments.ENV]`.
enum ScheduleGateParser {
    static func parse(_ p: inout ProjectSettings, _ r: inout TableReader) throws(ConfigError) {
        p.conflictCheck = try conflictCheck(&r) ?? p.conflictCheck
        p.stopOnBlackout = try r.bool("stop_on_blackout") ?? p.stopOnBlackout
        if let v = try r.duration("conflict_recheck", example: "1m") {
            // Each check is a job on the instance: more often than every second only loads it.
            guard v >= .seconds(1) else { throw r.error("conflict_recheck", "must be at least 1s", fix: "conflict_recheck = \"1m\"") }
            p.conflictRecheck = v
        }
        p.configurationItems = try configurationItems(&r) ?? []
        p.evidence = try r.bool("evidence") ?? p.evidence
        p.evidenceMaxBytes = try r.int("evidence_max_bytes", range: 4096...(1 << 30)) ?? p.evidenceMaxBytes
        p.allowedChangeTemplates = try r.stringArray("allowed_change_templates", example: #"["Deploy web-shop", "Deploy web-shop (hotfix)"]"#) ?? []
        if let empty = p.allowedChangeTemplates.first(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw r.error("allowed_change_templates", "holds an empty name (\"\(empty)\")", fix: "list template names as ServiceNow shows them")
        }
        if let text = try r.string("close_change_on_failure", example: "review") {
            guard let v = FailureClose(rawValue: text) else {
                throw r.error("close_change_on_failure", "must be none, review, closed or canceled", fix: "close_change_on_failure = \"review\"")
            }
            p.closeChangeOnFailure = v
        }
    }

    static func override(_ r: inout TableReader) throws(ConfigError) -> EnvironmentOverride {
        var o = EnvironmentOverride()
        o.conflictCheck = try conflictCheck(&r)
        o.stopOnBlackout = try r.bool("stop_on_blackout")
        o.configurationItems = try configurationItems(&r)
        o.changeTemplate = try r.string("change_template", example: "Deploy web-shop")
        return o
    }

    static func conflictCheck(_ r: inout TableReader) throws(ConfigError) -> ConflictCheck? {
        guard let text = try r.string("conflict_check", example: "block") else { return nil }
        guard let v = ConflictCheck(rawValue: text) else {
            throw r.error("conflict_check", "must be block, warn or off", fix: "conflict_check = \"block\"")
        }
        return v
    }

    static func configurationItems(_ r: inout TableReader) throws(ConfigError) -> [String]? {
        guard let cis = try r.stringOrArray("cmdb_ci", example: #"["web-shop-prod-01"]"#) else { return nil }
        if cis.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw r.error("cmdb_ci", "holds an empty name", fix: #"cmdb_ci = "web-shop-prod-01" (a CI name or sys_id)"#)
        }
        return cis
    }
}
