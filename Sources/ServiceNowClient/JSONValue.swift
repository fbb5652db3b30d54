import Foundation

/// Any JSON value. ServiceNow field values come as strings, numbers, booleans, null or small objects
/// depending on the API and `sysparm_display_value`, so records are decoded loosely and read field by field.
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }

    /// A scalar as text, as ServiceNow would show it raw: numbers without a trailing `.0`.
    var scalarText: String? {
        switch self {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .number(let d):
            if d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .string(let s): return s
        case .array, .object: return nil
        }
    }

    /// The raw value of a field: `{value, display_value}` and `{link, value}` give `value`; a bare scalar is itself.
    var fieldValue: String? {
        if case .object(let o) = self { return o["value"]?.scalarText }
        return scalarText
    }

    /// The display value of a field (`display_value`), or the raw value when the answer has none.
    var fieldDisplayValue: String? {
        if case .object(let o) = self { return o["display_value"]?.scalarText ?? o["value"]?.scalarText }
        return scalarText
    }
}
