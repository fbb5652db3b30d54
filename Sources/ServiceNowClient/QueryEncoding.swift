import Foundation
import ServiceNowModel

/// How each `ChangeQuery` clause is written into `sysparm_query`, and how it is checked on the client.
enum QueryEncoding {
    struct Encoded: Equatable {
        /// Text of the clause as sent, nil when nothing is sent for it.
        var sent: String?
        /// False when `sent` is only a wider approximation (or absent) and the client must filter.
        var exact: Bool
    }

    /// Whether a value can appear in an encoded query as is: no `^` (the AND/OR separator), no control
    /// characters, not empty, no surrounding whitespace (which an instance may trim); inside `IN` no `,` either.
    static func isSafe(_ value: String, inList: Bool = false) -> Bool {
        guard !value.isEmpty, value.trimmingCharacters(in: .whitespaces) == value else { return false }
        return !value.unicodeScalars.contains { s in
            s == "^" || (inList && s == ",") || CharacterSet.controlCharacters.contains(s)
        }
    }

    /// The longest piece of `value` between unsafe characters, trimmed: sent as a `LIKE` to narrow a widened search.
    static func longestSafeSegment(_ value: String) -> String? {
        let pieces = value.unicodeScalars.split { s in s == "^" || CharacterSet.controlCharacters.contains(s) }
            .map { String(String.UnicodeScalarView($0)).trimmingCharacters(in: .whitespaces) }
        guard let best = pieces.max(by: { $0.count < $1.count }), best.count >= 3 else { return nil }
        return best
    }

    static func encode(_ clause: ChangeQuery.Clause) -> Encoded {
        switch clause {
        case .text(let field, let c): return text(field.rawValue, c)
        case .state(let c): return choice("state", c) { String($0.rawValue) }
        case .type(let c): return choice("type", c) { $0.rawValue }
        case .approval(let c): return choice("approval", c) { $0.rawValue }
        case .active(let b): return Encoded(sent: "active=\(b)", exact: true)
        case .updatedOn(let c):
            let f = ChangeQuery.Field.updatedOn.rawValue
            switch c {
            case .greaterThan(let d): return Encoded(sent: "\(f)>\(GlideDateTime.format(d))", exact: true)
            case .greaterOrEqual(let d): return Encoded(sent: "\(f)>=\(GlideDateTime.format(d))", exact: true)
            case .lessThan(let d): return Encoded(sent: "\(f)<\(GlideDateTime.format(d))", exact: true)
            case .lessOrEqual(let d): return Encoded(sent: "\(f)<=\(GlideDateTime.format(d))", exact: true)
            case .isEmpty: return Encoded(sent: "\(f)ISEMPTY", exact: true)
            case .isNotEmpty: return Encoded(sent: "\(f)ISNOTEMPTY", exact: true)
            }
        }
    }

    private static func text(_ f: String, _ c: ChangeQuery.TextCondition) -> Encoded {
        func single(_ op: String, _ v: String, narrowable: Bool) -> Encoded {
            if isSafe(v) { return Encoded(sent: "\(f)\(op)\(v)", exact: true) }
            if v.isEmpty, op == "=" { return Encoded(sent: "\(f)ISEMPTY", exact: true) }
            if v.isEmpty, op == "!=" { return Encoded(sent: "\(f)ISNOTEMPTY", exact: true) }
            // Any positive text match implies the value contains its safe pieces.
            guard narrowable, let piece = longestSafeSegment(v) else { return Encoded(sent: nil, exact: false) }
            return Encoded(sent: "\(f)LIKE\(piece)", exact: false)
        }
        func list(_ op: String, _ vs: [String]) -> Encoded {
            if vs.isEmpty { return Encoded(sent: nil, exact: op == "NOT IN") }
            guard vs.allSatisfy({ isSafe($0, inList: true) }) else { return Encoded(sent: nil, exact: false) }
            return Encoded(sent: "\(f)\(op)\(vs.joined(separator: ","))", exact: true)
        }
        switch c {
        case .equals(let v): return single("=", v, narrowable: true)
        case .notEquals(let v): return single("!=", v, narrowable: false)
        case .startsWith(let v): return single("STARTSWITH", v, narrowable: true)
        case .endsWith(let v): return single("ENDSWITH", v, narrowable: true)
        case .like(let v): return single("LIKE", v, narrowable: true)
        case .notLike(let v): return single("NOT LIKE", v, narrowable: false)
        case .in(let vs): return list("IN", vs)
        case .notIn(let vs): return list("NOT IN", vs)
        case .isEmpty: return Encoded(sent: "\(f)ISEMPTY", exact: true)
        case .isNotEmpty: return Encoded(sent: "\(f)ISNOTEMPTY", exact: true)
        }
    }

    private static func choice<V>(_ f: String, _ c: ChangeQuery.Condition<V>, _ raw: (V) -> String) -> Encoded {
        switch c {
        case .equals(let v): Encoded(sent: "\(f)=\(raw(v))", exact: true)
        case .notEquals(let v): Encoded(sent: "\(f)!=\(raw(v))", exact: true)
        case .in(let vs): vs.isEmpty ? Encoded(sent: nil, exact: false) : Encoded(sent: "\(f)IN\(vs.map(raw).joined(separator: ","))", exact: true)
        case .notIn(let vs): vs.isEmpty ? Encoded(sent: nil, exact: true) : Encoded(sent: "\(f)NOT IN\(vs.map(raw).joined(separator: ","))", exact: true)
        }
    }

    // MARK: client-side evaluation

    static func matches(_ clause: ChangeQuery.Clause, _ change: ChangeSnapshot) -> Bool {
        switch clause {
        case .text(let field, let c): return matchesText(c, textValue(field, change))
        case .state(let c): return matchesChoice(c, change.state)
        case .type(let c): return matchesChoice(c, change.type)
        case .approval(let c): return matchesChoice(c, change.approval)
        case .active: return true  // not in a snapshot; the server always applies it (a boolean is always expressible)
        case .updatedOn(let c):
            switch c {
            case .isEmpty: return change.updatedOn == nil
            case .isNotEmpty: return change.updatedOn != nil
            case .greaterThan(let d): return change.updatedOn.map { whole($0) > whole(d) } ?? false
            case .greaterOrEqual(let d): return change.updatedOn.map { whole($0) >= whole(d) } ?? false
            case .lessThan(let d): return change.updatedOn.map { whole($0) < whole(d) } ?? false
            case .lessOrEqual(let d): return change.updatedOn.map { whole($0) <= whole(d) } ?? false
            }
        }
    }

    /// ServiceNow stores whole seconds; compare at that precision.
    private static func whole(_ d: Date) -> Double { d.timeIntervalSince1970.rounded(.down) }

    private static func textValue(_ field: ChangeQuery.Field, _ c: ChangeSnapshot) -> String {
        switch field {
        case .number: c.number
        case .sysID: c.sysID
        case .shortDescription: c.shortDescription
        case .correlationID: c.correlationID
        case .state: String(c.state.rawValue)
        case .type: c.type.rawValue
        case .approval: c.approval.rawValue
        case .active: "true"
        case .updatedOn: c.updatedOn.map(GlideDateTime.format) ?? ""
        }
    }

    private static func matchesText(_ c: ChangeQuery.TextCondition, _ v: String) -> Bool {
        switch c {
        case .equals(let x): v == x
        case .notEquals(let x): v != x
        case .in(let xs): xs.contains(v)
        case .notIn(let xs): !xs.contains(v)
        case .startsWith(let x): v.hasPrefix(x)
        case .endsWith(let x): v.hasSuffix(x)
        case .like(let x): x.isEmpty || v.range(of: x, options: .caseInsensitive) != nil
        case .notLike(let x): !x.isEmpty && v.range(of: x, options: .caseInsensitive) == nil
        case .isEmpty: v.isEmpty
        case .isNotEmpty: !v.isEmpty
        }
    }

    private static func matchesChoice<V: Equatable>(_ c: ChangeQuery.Condition<V>, _ v: V) -> Bool {
        switch c {
        case .equals(let x): v == x
        case .notEquals(let x): v != x
        case .in(let xs): xs.contains(v)
        case .notIn(let xs): !xs.contains(v)
        }
    }
}
