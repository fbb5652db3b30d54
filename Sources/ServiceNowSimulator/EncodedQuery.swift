import Foundation
/// A parsed `sysparm_query`. As on a real instance, a clause naming an unknown field or using an unknown
/// operator is dropped silently (the query then matches more than meant).
struct EncodedQuery: Sendable {
    enum Op: String, Sendable, CaseIterable {
        // Longest spellings first: parsing takes the first operator the text starts with.
        case isNotEmpty = "ISNOTEMPTY", isEmpty = "ISEMPTY", notIn = "NOT IN", notLike = "NOT LIKE"
        case startsWith = "STARTSWITH", endsWith = "ENDSWITH", like = "LIKE", between = "BETWEEN"
        case anything = "ANYTHING", emptyString = "EMPTYSTRING", nsameAs = "NSAMEAS", sameAs = "SAMEAS", inList = "IN"
        case notEqual = "!=", lessOrEqual = "<=", greaterOrEqual = ">=", equal = "=", less = "<", greater = ">"
    }

    struct Condition: Sendable {
        /// Field name, possibly dot-walked through references (`approver.name`).
        let field: String
        let op: Op
        let value: String
        /// The final field's spec, for typed comparison.
        let spec: FieldSpec
        let list: Set<String>
    }

    struct Order: Sendable {
        let field: String
        let descending: Bool
        let spec: FieldSpec
    }

    /// `^NQ` groups (OR'd), each an AND of terms, each term an OR of conditions.
    var groups: [[[Condition]]] = []
    var orderBy: [Order] = []
    var ignoredClauses: [String] = []

    var isEmpty: Bool { groups.allSatisfy(\.isEmpty) }

    /// - Parameter fieldSpec: resolves a (possibly dotted) field name to its spec, nil when unknown.
    init(_ text: String, fieldSpec: (String) -> FieldSpec?) {
        guard !text.isEmpty else { return }
        for groupText in text.components(separatedBy: "^NQ") {
            var terms: [[Condition]] = []
            for raw in groupText.split(separator: "^", omittingEmptySubsequences: true).map(String.init) {
                var clause = raw
                var isOr = false
                if clause.hasPrefix("OR"), !clause.hasPrefix("ORDERBY") { isOr = true; clause.removeFirst(2) }
                if clause.hasPrefix("ORDERBYDESC") || clause.hasPrefix("ORDERBY") {
                    let desc = clause.hasPrefix("ORDERBYDESC")
                    let field = String(clause.dropFirst(desc ? 11 : 7))
                    if let spec = fieldSpec(field) {
                        orderBy.append(Order(field: field, descending: desc, spec: spec))
                    } else {
                        ignoredClauses.append(raw)
                    }
                    continue
                }
                if clause == "EQ" { continue }
                guard let condition = Self.condition(clause, fieldSpec: fieldSpec) else {
                    ignoredClauses.append(raw)
                    continue
                }
                if isOr, !terms.isEmpty { terms[terms.count - 1].append(condition) } else { terms.append([condition]) }
            }
            groups.append(terms)
        }
        // A group whose every clause was dropped matches everything, like an empty query.
        if groups.contains(where: \.isEmpty) { groups = [] }
    }

    private static func condition(_ clause: String, fieldSpec: (String) -> FieldSpec?) -> Condition? {
        let nameEnd = clause.firstIndex(where: { !($0.isLowercase || $0.isNumber || $0 == "_" || $0 == ".") }) ?? clause.endIndex
        let field = String(clause[..<nameEnd])
        let rest = clause[nameEnd...]
        if rest.hasPrefix("RELATIVE") {
            guard !field.isEmpty, let spec = fieldSpec(field) else { return nil }
            return relative(field: field, spec: spec, String(rest.dropFirst(8)))
        }
        guard !field.isEmpty, let spec = fieldSpec(field),
              let op = Op.allCases.first(where: { rest.hasPrefix($0.rawValue) }) else { return nil }
        guard var value = Self.literal(String(rest.dropFirst(op.rawValue.count))) else { return nil }
        if op == .sameAs || op == .nsameAs { guard fieldSpec(value) != nil else { return nil } }
        if op == .between, !value.contains("@") { return nil }
        if spec.isNumeric, [.equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual].contains(op) {
            guard value.isEmpty || Int(value) != nil else { return nil }
            value = value.isEmpty ? value : String(Int(value)!)
        }
        let list: Set<String> = op == .inList || op == .notIn
            ? Set(value.split(separator: ",", omittingEmptySubsequences: false).map { spec.isNumeric ? normalizedInt(String($0)) : String($0) })
            : []
        return Condition(field: field, op: op, value: value, spec: spec, list: list)
    }

    /// `RELATIVEGE@minute@ago@5` (also GT, LE, LT; `ahead` for the future): a comparison with the instance's own
    /// clock at the time of the request, so its meaning does not depend on anyone's time zone. Other spellings
    /// (EE, unknown units) are dropped, like any clause the instance cannot read.
    private static func relative(field: String, spec: FieldSpec, _ text: String) -> Condition? {
        let ops: [String: Op] = ["GE": .greaterOrEqual, "GT": .greater, "LE": .lessOrEqual, "LT": .less]
        let parts = text.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let op = ops[parts[0]], let amount = Int(parts[3]), amount >= 0,
              parts[2] == "ago" || parts[2] == "ahead" else { return nil }
        let unit: Int
        switch parts[1] {
        case "second": unit = 1
        case "minute": unit = 60
        case "hour": unit = 3_600
        case "dayofweek": unit = 86_400
        case "week": unit = 7 * 86_400
        case "month": unit = 30 * 86_400
        case "quarter": unit = 91 * 86_400
        case "year": unit = 365 * 86_400
        default: return nil
        }
        let now = Int(Date().timeIntervalSince1970)
        let at = parts[2] == "ago" ? now - amount * unit : now + amount * unit
        return Condition(field: field, op: op, value: GlideClock.text(at), spec: spec, list: [])
    }

    /// Query values are literal text, except `javascript:gs.dateGenerate('YYYY-MM-DD','HH:MM:SS')`, which
    /// date filters built in the UI use. Other scripts cannot be run here: the clause is dropped.
    private static func literal(_ text: String) -> String? {
        guard text.hasPrefix("javascript:") else { return text }
        guard text.contains("dateGenerate(") else { return nil }
        let parts = text.split(separator: "'").map(String.init)
        guard parts.count >= 4 else { return nil }
        return "\(parts[1]) \(parts[3])"
    }

    // MARK: Evaluation

    /// - Parameter value: the raw value of a (possibly dotted) field of the row.
    func matches(_ value: (String) -> String) -> Bool {
        if groups.isEmpty { return true }
        return groups.contains { group in
            group.allSatisfy { term in term.contains { Self.test($0, value) } }
        }
    }

    private static func normalizedInt(_ s: String) -> String { Int(s).map(String.init) ?? s }

    private static func test(_ c: Condition, _ value: (String) -> String) -> Bool {
        let raw = value(c.field)
        switch c.op {
        case .equal: return c.spec.isNumeric ? normalizedInt(raw) == c.value : raw == c.value
        case .notEqual: return c.spec.isNumeric ? normalizedInt(raw) != c.value : raw != c.value
        case .inList: return c.list.contains(c.spec.isNumeric ? normalizedInt(raw) : raw)
        case .notIn: return !c.list.contains(c.spec.isNumeric ? normalizedInt(raw) : raw)
        case .like: return raw.contains(c.value)
        case .notLike: return !raw.contains(c.value)
        case .startsWith: return raw.hasPrefix(c.value)
        case .endsWith: return raw.hasSuffix(c.value)
        case .isEmpty, .emptyString: return raw.isEmpty
        case .isNotEmpty: return !raw.isEmpty
        case .anything: return true
        case .sameAs: return raw == value(c.value)
        case .nsameAs: return raw != value(c.value)
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            // Empty values are NULL in the database: no ordering comparison matches them.
            guard !raw.isEmpty, !c.value.isEmpty else { return false }
            let order = compare(raw, c.value, numeric: c.spec.isNumeric)
            switch c.op {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        case .between:
            let bounds = c.value.split(separator: "@", maxSplits: 1).map(String.init)
            guard !raw.isEmpty, bounds.count == 2 else { return false }
            return compare(raw, bounds[0], numeric: c.spec.isNumeric) >= 0 && compare(raw, bounds[1], numeric: c.spec.isNumeric) <= 0
        }
    }

    /// Numbers compare as numbers; text (including glide dates, which sort as text) compares as text.
    static func compare(_ a: String, _ b: String, numeric: Bool) -> Int {
        if numeric, let x = Int(a), let y = Int(b) { return x < y ? -1 : x > y ? 1 : 0 }
        return a < b ? -1 : a > b ? 1 : 0
    }

    /// Exact-match values of an indexed field in a group's AND terms, for the store's index lookups.
    func indexedValues(in group: [[Condition]], field: String) -> Set<String>? {
        for term in group where term.count == 1 {
            let c = term[0]
            guard c.field == field else { continue }
            if c.op == .equal { return [c.value] }
            if c.op == .inList { return c.list }
        }
        return nil
    }
}
