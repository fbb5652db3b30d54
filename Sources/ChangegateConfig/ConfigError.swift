/// A configuration problem: names the file, the line where known, the key, and the fix.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String
    public var problem: String
    public var fix: String

    public init(file: String, line: Int? = nil, key: String, problem: String, fix: String) {
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        let keyPart = key.isEmpty ? "" : " \(key):"
        return "\(location):\(keyPart) \(problem)\n  fix: \(fix)"
    }
}
