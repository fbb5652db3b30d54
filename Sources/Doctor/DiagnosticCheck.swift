/// One line of `changegate doctor`: what was checked, how it went, and what to do about a failure.
public struct DiagnosticCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case ok
        case fail
        /// Could not be checked (without side effects, or because an earlier check failed); not a failure.
        case notChecked = "not_checked"
    }

    public var name: String
    public var status: Status
    public var detail: String
    public var fix: String?

    public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}
