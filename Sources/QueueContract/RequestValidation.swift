import Foundation

/// A column as a producer wrote it: SQLite lets any type into any column, so nothing is assumed.
public enum RawValue: Sendable, Equatable {
    case null
    case text(String)
    /// A value that is not valid text (a number, or a blob that is not UTF-8); the string describes it.
    case notText(String)
}

/// The producer-written columns of a queue row, before validation.
public struct RawRequest: Sendable, Equatable {
    public var project: RawValue
    public var environment: RawValue
    public var release: RawValue
    public var changeNumber: RawValue
    public var requestedBy: RawValue
    public var variables: RawValue
    public var changeType: RawValue
    public var changeTemplate: RawValue

    public init(project: RawValue, environment: RawValue, release: RawValue, changeNumber: RawValue = .null,
                requestedBy: RawValue = .null, variables: RawValue = .null, changeType: RawValue = .null,
                changeTemplate: RawValue = .null) {
        self.project = project
        self.environment = environment
        self.release = release
        self.changeNumber = changeNumber
        self.requestedBy = requestedBy
        self.variables = variables
        self.changeType = changeType
        self.changeTemplate = changeTemplate
    }
}

/// A queue row that passed validation.
public struct DeploymentRequest: Sendable, Equatable {
    public var project: String
    public var environment: String
    public var release: String
    public var changeNumber: String?
    public var requestedBy: String?
    public var variables: [String: String]
    /// `normal` or `emergency`, used when a change is created.
    public var emergency: Bool
    /// `change_type = 'standard'`: a standard change must be created (from `changeTemplate` or the configured one).
    public var standard: Bool = false
    /// The row's `change_template`: a standard change template from the project's allow list.
    public var changeTemplate: String?
    /// The deployment may not start before this time (`not_before`).
    public var notBefore: Date?

    public init(project: String, environment: String, release: String, changeNumber: String? = nil,
                requestedBy: String? = nil, variables: [String: String] = [:], emergency: Bool = false, notBefore: Date? = nil) {
        self.project = project
        self.environment = environment
        self.release = release
        self.changeNumber = changeNumber
        self.requestedBy = requestedBy
        self.variables = variables
        self.emergency = emergency
        self.notBefore = notBefore
    }
}

/// The limits of the queue contract (documented in the README).
public enum RequestLimits {
    public static let maxNameLength = 128
    public static let maxReleaseLength = 256
    public static let maxRequestedByLength = 256
    public static let maxVariables = 64
    public static let maxVariableNameLength = 128
    public static let maxVariableValueBytes = 32 * 1024
    public static let maxVariablesJSONBytes = 256 * 1024
    /// Names a row may not set: they would change how the child runs or pretend to be changegate's own.
    public static let reservedVariablePrefixes = ["CHANGEGATE_", "LD_", "SYSTEMD_", "NOTIFY_", "WATCHDOG_", "CREDENTIALS_"]
    public static let reservedVariableNames: Set<String> = ["PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM", "INVOCATION_ID"]
}

public enum RequestValidation {
    /// Checks a row against the contract and the configured projects and environments.
    /// The error string names the column and what is wrong, for the `reason` column.
    public static func validate(_ raw: RawRequest, notBefore: String? = nil, isKnownProject: (String) -> Bool,
                                isKnownEnvironment: (String) -> Bool) -> Result<DeploymentRequest, ValidationError> {
        do {
            let project = try requiredName(raw.project, column: "project")
            guard isKnownProject(project) else {
                throw ValidationError("project: unknown project \(quoted(project)); add [projects.\(project)] to the config or fix the row")
            }
            let environment = try requiredName(raw.environment, column: "environment")
            guard isKnownEnvironment(environment) else {
                throw ValidationError("environment: unknown environment \(quoted(environment)); add [environments.\(environment)] to the config or fix the row")
            }
            let release = try required(raw.release, column: "release", maxLength: RequestLimits.maxReleaseLength)
            let changeNumber = try optional(raw.changeNumber, column: "change_number", maxLength: 40)
            if let n = changeNumber, !isChangeNumber(n) {
                throw ValidationError("change_number: \(quoted(n)) is not a change number (expected e.g. CHG0030001)")
            }
            let requestedBy = try optional(raw.requestedBy, column: "requested_by", maxLength: RequestLimits.maxRequestedByLength)
            let variables = try parseVariables(raw.variables)
            var emergency = false, standard = false
            switch try optional(raw.changeType, column: "change_type", maxLength: 20) {
            case nil, "normal"?: break
            case "emergency"?: emergency = true
            case "standard"?: standard = true
            case let other?: throw ValidationError("change_type: \(quoted(other)) is not allowed; use normal, emergency or standard")
            }
            let template = try optional(raw.changeTemplate, column: "change_template", maxLength: RequestLimits.maxNameLength)
            if template != nil, emergency {
                throw ValidationError("change_template: an emergency change is not made from a template; leave change_template empty or use change_type 'standard'")
            }
            var request = DeploymentRequest(project: project, environment: environment, release: release,
                                            changeNumber: changeNumber, requestedBy: requestedBy,
                                            variables: variables, emergency: emergency, notBefore: try parseNotBefore(notBefore))
            request.standard = standard
            request.changeTemplate = template
            return .success(request)
        } catch let error as ValidationError {
            return .failure(error)
        } catch {
            return .failure(ValidationError("\(error)"))
        }
    }

    /// The row's template choice against the project's config for its environment: the row's `change_template`
    /// must be in `allowed` (or be the configured one), and `change_type = 'standard'` needs some template.
    /// Returns the reason for the `reason` column when the row must be refused.
    public static func checkTemplate(_ request: DeploymentRequest, configured: String?, allowed: [String]) -> ValidationError? {
        if let t = request.changeTemplate, t != configured, !allowed.contains(t) {
            let list = allowed.isEmpty ? "the project allows none" : "allowed: " + allowed.map(quoted).joined(separator: ", ")
            return ValidationError("change_template: \(quoted(t)) is not in projects.\(request.project).allowed_change_templates (\(list)); add it there or fix the row")
        }
        if request.standard, request.changeTemplate ?? configured == nil {
            return ValidationError("change_type: 'standard' needs a template; set change_template on the row (from allowed_change_templates) or projects.\(request.project).change_template")
        }
        return nil
    }

    /// `not_before`: empty or a UTC ISO-8601 time.
    static func parseNotBefore(_ text: String?) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        if let d = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return d }
        if let d = try? Date.ISO8601FormatStyle().parse(text) { return d }
        throw ValidationError("not_before: \"\(text.prefix(60))\" is not a UTC ISO-8601 time such as 2026-11-29T14:00:00Z")
    }

    static func requiredName(_ value: RawValue, column: String) throws -> String {
        try required(value, column: column, maxLength: RequestLimits.maxNameLength)
    }

    static func required(_ value: RawValue, column: String, maxLength: Int) throws -> String {
        guard let text = try optional(value, column: column, maxLength: maxLength) else {
            throw ValidationError("\(column): is missing (NULL or empty); every deployment needs one")
        }
        return text
    }

    static func optional(_ value: RawValue, column: String, maxLength: Int) throws -> String? {
        switch value {
        case .null: return nil
        case .notText(let what): throw ValidationError("\(column): must be text, got \(what)")
        case .text(let text):
            if text.isEmpty { return nil }
            if text.utf8.count > maxLength {
                throw ValidationError("\(column): is \(text.utf8.count) bytes long; the limit is \(maxLength)")
            }
            if text.trimmingCharacters(in: .whitespaces).isEmpty {
                throw ValidationError("\(column): is only white space")
            }
            if text.unicodeScalars.contains(where: isForbiddenScalar) {
                throw ValidationError("\(column): contains control or invalid characters")
            }
            return text
        }
    }

    static func parseVariables(_ value: RawValue) throws -> [String: String] {
        let text: String
        switch value {
        case .null: return [:]
        case .notText(let what): throw ValidationError("variables: must be a JSON object of strings, got \(what)")
        case .text(let t): text = t
        }
        if text.isEmpty { return [:] }
        guard text.utf8.count <= RequestLimits.maxVariablesJSONBytes else {
            throw ValidationError("variables: is \(text.utf8.count) bytes; the limit is \(RequestLimits.maxVariablesJSONBytes)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            throw ValidationError("variables: is not valid JSON; expected an object such as {\"FEATURE_FLAG\": \"on\"}")
        }
        guard let dict = object as? [String: Any] else {
            throw ValidationError("variables: must be a JSON object of string to string, got \(jsonKind(object))")
        }
        guard dict.count <= RequestLimits.maxVariables else {
            throw ValidationError("variables: has \(dict.count) entries; the limit is \(RequestLimits.maxVariables)")
        }
        var result: [String: String] = [:]
        for (name, any) in dict.sorted(by: { $0.key < $1.key }) {
            try checkVariableName(name)
            guard let string = any as? String, !(any is NSNumber) else {
                throw ValidationError("variables: \(quoted(name)) must be a string, got \(jsonKind(any))")
            }
            guard string.utf8.count <= RequestLimits.maxVariableValueBytes else {
                throw ValidationError("variables: \(quoted(name)) is \(string.utf8.count) bytes; the limit is \(RequestLimits.maxVariableValueBytes)")
            }
            guard !string.unicodeScalars.contains("\0") else {
                throw ValidationError("variables: \(quoted(name)) contains a NUL character")
            }
            result[name] = string
        }
        return result
    }

    static func checkVariableName(_ name: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= RequestLimits.maxVariableNameLength
            && name.unicodeScalars.allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
            && !(name.unicodeScalars.first.map { $0 >= "0" && $0 <= "9" } ?? true)
        guard ok else {
            throw ValidationError("variables: name \(quoted(name)) is not allowed; use letters, digits and _ (not starting with a digit), at most \(RequestLimits.maxVariableNameLength) characters")
        }
        let upper = name.uppercased()
        if RequestLimits.reservedVariableNames.contains(upper) || RequestLimits.reservedVariablePrefixes.contains(where: upper.hasPrefix) {
            throw ValidationError("variables: name \(quoted(name)) is reserved; choose another name")
        }
    }

    static func isChangeNumber(_ s: String) -> Bool {
        let letters = s.prefix { $0.isASCII && $0.isLetter && $0.isUppercase }
        let digits = s.dropFirst(letters.count)
        return (2...8).contains(letters.count) && (4...12).contains(digits.count) && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func isForbiddenScalar(_ s: Unicode.Scalar) -> Bool {
        // Control characters and the replacement character (what invalid UTF-8 decodes to).
        s.value < 0x20 || s.value == 0x7F || (0x80...0x9F).contains(s.value) || s.value == 0xFFFD
            || s.value == 0x2028 || s.value == 0x2029
    }

    static func jsonKind(_ any: Any) -> String {
        switch any {
        case is NSNull: return "null"
        case is NSNumber: return "a number or boolean"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "\(type(of: any))"
        }
    }

    static func quoted(_ s: String) -> String {
        let shown = s.count > 60 ? String(s.prefix(60)) + "…" : s
        return "\"\(shown)\""
    }
}

public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
