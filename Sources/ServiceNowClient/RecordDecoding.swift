import Foundation
import ServiceNowModel

/// Why a record could not be turned into a model value (becomes `ServiceNowError.malformedResponse`).
struct DecodingProblem: Error, Sendable {
    var reason: String
}

/// Reads ServiceNow answers: `{"result": {...}}` or `{"result": [...]}` of records in any of the field shapes.
enum RecordDecoding {
    /// The records of an answer body, whether `result` is one object or an array.
    static func records(in body: JSONValue) throws(DecodingProblem) -> [[String: JSONValue]] {
        guard let result = body["result"] else { throw DecodingProblem(reason: "no \"result\" in the answer") }
        switch result {
        case .object(let o): return [o]
        case .array(let a):
            var out: [[String: JSONValue]] = []
            out.reserveCapacity(a.count)
            for item in a {
                guard let o = item.objectValue else { throw DecodingProblem(reason: "\"result\" holds a non-object") }
                out.append(o)
            }
            return out
        default: throw DecodingProblem(reason: "\"result\" is neither an object nor a list")
        }
    }

    static func change(_ r: [String: JSONValue]) throws(DecodingProblem) -> ChangeSnapshot {
        let sysID = try required(r, "sys_id")
        let number = r["number"]?.fieldValue ?? ""
        let label = number.isEmpty ? sysID : number
        guard let stateField = r["state"] else { throw DecodingProblem(reason: "change \(label) has no state") }
        let stateRaw = stateField.fieldValue ?? ""
        guard let state = Int(stateRaw.trimmingCharacters(in: .whitespaces)).flatMap(ChangeState.init(rawValue:))
            ?? stateField.fieldDisplayValue.flatMap(ChangeState.init(displayName:))
        else { throw DecodingProblem(reason: "change \(label) has unknown state '\(stateRaw)'") }
        let approvalRaw = r["approval"]?.fieldValue ?? ""
        // Instances also use `cancelled`, `not_required`, `duplicate`: none of them is an approval or a rejection,
        // and one odd record must not fail a whole batched read.
        let approval = ApprovalState(rawValue: approvalRaw) ?? .notRequested
        let typeRaw = r["type"]?.fieldValue ?? ""
        guard let type = ChangeType(rawValue: typeRaw)
        else { throw DecodingProblem(reason: "change \(label) has unknown type '\(typeRaw)'") }
        return ChangeSnapshot(
            sysID: sysID,
            number: number,
            state: state,
            approval: approval,
            type: type,
            plannedStart: date(r, "start_date"),
            plannedEnd: date(r, "end_date"),
            shortDescription: r["short_description"]?.fieldValue ?? "",
            correlationID: r["correlation_id"]?.fieldValue ?? "",
            updatedOn: date(r, "sys_updated_on")
        )
    }

    static func template(_ r: [String: JSONValue]) throws(DecodingProblem) -> StandardChangeTemplate {
        let sysID = try required(r, "sys_id")
        let name = r["name"]?.fieldValue ?? r["sys_name"]?.fieldValue ?? ""
        return StandardChangeTemplate(sysID: sysID, name: name)
    }

    /// A `sysapproval_approver` row, read with `sysparm_display_value=all` (names from display values) or raw.
    static func approver(_ r: [String: JSONValue]) throws(DecodingProblem) -> ApproverRecord {
        let sysID = try required(r, "sys_id")
        let approver = r["approver"]
        let approverSysID = approver?.fieldValue ?? ""
        let approverName = approver?.fieldDisplayValue ?? approverSysID
        let stateRaw = r["state"]?.fieldValue ?? ""
        guard let state = ApproverState(rawValue: stateRaw)
            ?? ApproverState.allCases.first(where: { $0.rawValue == stateRaw.lowercased().replacingOccurrences(of: " ", with: "_") })
        else { throw DecodingProblem(reason: "approval \(sysID) has unknown state '\(stateRaw)'") }
        // `comments` is a journal: its raw value reads back empty, the text is in the display value.
        let comments = r["comments"].map { ($0.fieldValue ?? "").isEmpty ? ($0.fieldDisplayValue ?? "") : ($0.fieldValue ?? "") } ?? ""
        return ApproverRecord(
            sysID: sysID, approverName: approverName, approverSysID: approverSysID,
            state: state, comments: comments, updatedOn: date(r, "sys_updated_on"))
    }

    /// States of a `/nextstates` answer: `{"result":{"available_states":["-1",…]}}`, or a plain list of
    /// states (numbers, strings or `{value, display_value}`).
    static func nextStates(_ body: JSONValue) throws(DecodingProblem) -> [ChangeState] {
        guard let result = body["result"] else { throw DecodingProblem(reason: "no \"result\" in the answer") }
        let list: [JSONValue]
        if let a = result.arrayValue {
            list = a
        } else if let a = result["available_states"]?.arrayValue ?? result["next_states"]?.arrayValue ?? result["states"]?.arrayValue {
            list = a
        } else {
            throw DecodingProblem(reason: "no list of states in the answer")
        }
        var states: [ChangeState] = []
        for item in list {
            let raw = item.fieldValue ?? item["state"]?.fieldValue ?? ""
            guard let s = Int(raw).flatMap(ChangeState.init(rawValue:)) ?? item.fieldDisplayValue.flatMap(ChangeState.init(displayName:))
            else { throw DecodingProblem(reason: "unknown state '\(raw)'") }
            if !states.contains(s) { states.append(s) }
        }
        return states
    }

    /// Field names ServiceNow ignored on a create (`__meta.ignoredFields`).
    static func ignoredFields(_ r: [String: JSONValue]) -> [String] {
        r["__meta"]?["ignoredFields"]?.arrayValue?.compactMap(\.scalarText) ?? []
    }

    private static func required(_ r: [String: JSONValue], _ field: String) throws(DecodingProblem) -> String {
        guard let v = r[field]?.fieldValue, !v.isEmpty else { throw DecodingProblem(reason: "a record has no \(field)") }
        return v
    }

    private static func date(_ r: [String: JSONValue], _ field: String) -> Date? {
        r[field]?.fieldValue.flatMap(GlideDateTime.parse)
    }
}
