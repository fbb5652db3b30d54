import Foundation
import ServiceNowModel

/// A typed `sysparm_query` over the `change_request` fields changegate uses; the only way this library builds
/// encoded queries. Clauses are AND-joined.
///
/// ServiceNow silently ignores a clause it cannot parse (the query then matches more than meant), and a value
/// holding `^` (or `,` inside `IN`) cannot be expressed at all. Such a clause is never sent: it is applied here,
/// on the client, to the results, and the server is asked a wider question instead (a `LIKE` on the longest
/// safe part of the value when there is one, else nothing). `isWidened` tells when that happens.
/// Every clause is re-checked on the client anyway, so results match the query exactly (text comparisons
/// case-sensitive, `LIKE` case-insensitive, as ServiceNow documents them) whatever the server made of it.
public struct ChangeQuery: Sendable, Equatable, CustomStringConvertible {
    public enum Field: String, Sendable, CaseIterable {
        case number, sysID = "sys_id", shortDescription = "short_description", correlationID = "correlation_id"
        case state, type, approval, active, updatedOn = "sys_updated_on"
    }

    /// Conditions on text fields.
    public enum TextCondition: Sendable, Equatable {
        case equals(String), notEquals(String)
        case `in`([String]), notIn([String])
        case startsWith(String), endsWith(String), like(String), notLike(String)
        case isEmpty, isNotEmpty
    }

    /// Conditions on choice fields (state, type, approval): always expressible.
    public enum Condition<Value: Sendable & Equatable>: Sendable, Equatable {
        case equals(Value), notEquals(Value), `in`([Value]), notIn([Value])
    }

    /// Conditions on date-time fields, compared in UTC.
    public enum DateCondition: Sendable, Equatable {
        case greaterThan(Date), greaterOrEqual(Date), lessThan(Date), lessOrEqual(Date), isEmpty, isNotEmpty
    }

    enum Clause: Sendable, Equatable {
        case text(Field, TextCondition)
        case state(Condition<ChangeState>)
        case type(Condition<ChangeType>)
        case approval(Condition<ApprovalState>)
        case active(Bool)
        case updatedOn(DateCondition)
    }

    private(set) var clauses: [Clause] = []
    private(set) var ordering: [(field: Field, descending: Bool)] = []

    public init() {}

    public func number(_ c: TextCondition) -> ChangeQuery { adding(.text(.number, c)) }
    public func sysID(_ c: TextCondition) -> ChangeQuery { adding(.text(.sysID, c)) }
    public func shortDescription(_ c: TextCondition) -> ChangeQuery { adding(.text(.shortDescription, c)) }
    public func correlationID(_ c: TextCondition) -> ChangeQuery { adding(.text(.correlationID, c)) }
    public func state(_ c: Condition<ChangeState>) -> ChangeQuery { adding(.state(c)) }
    public func type(_ c: Condition<ChangeType>) -> ChangeQuery { adding(.type(c)) }
    public func approval(_ c: Condition<ApprovalState>) -> ChangeQuery { adding(.approval(c)) }
    public func active(_ isActive: Bool) -> ChangeQuery { adding(.active(isActive)) }
    public func updatedOn(_ c: DateCondition) -> ChangeQuery { adding(.updatedOn(c)) }

    public func orderBy(_ field: Field, descending: Bool = false) -> ChangeQuery {
        var q = self
        q.ordering.append((field, descending))
        return q
    }

    var hasOrdering: Bool { !ordering.isEmpty }

    private func adding(_ clause: Clause) -> ChangeQuery {
        var q = self
        q.clauses.append(clause)
        return q
    }

    public static func == (a: ChangeQuery, b: ChangeQuery) -> Bool {
        a.clauses == b.clauses && a.ordering.map(\.field) == b.ordering.map(\.field)
            && a.ordering.map(\.descending) == b.ordering.map(\.descending)
    }

    /// The `sysparm_query` sent to ServiceNow.
    public var encodedQuery: String {
        var parts = clauses.compactMap { QueryEncoding.encode($0).sent }
        parts += ordering.map { "\($0.descending ? "ORDERBYDESC" : "ORDERBY")\($0.field.rawValue)" }
        return parts.joined(separator: "^")
    }

    /// True when some clause could not be sent and the server is asked a wider question (filtered here).
    public var isWidened: Bool { clauses.contains { !QueryEncoding.encode($0).exact } }

    /// True when the query can match nothing (e.g. `IN` an empty list): no request is needed.
    public var matchesNothing: Bool {
        clauses.contains { clause in
            switch clause {
            case .text(_, .in(let v)): v.isEmpty
            case .state(.in(let v)): v.isEmpty
            case .type(.in(let v)): v.isEmpty
            case .approval(.in(let v)): v.isEmpty
            default: false
            }
        }
    }

    /// Whether a change satisfies every clause (`active` excepted: a snapshot does not carry it, the server checks it).
    public func matches(_ change: ChangeSnapshot) -> Bool {
        clauses.allSatisfy { QueryEncoding.matches($0, change) }
    }

    public var description: String {
        isWidened ? "\(encodedQuery) (widened; filtered on the client)" : encodedQuery
    }
}
