import Logging

import Glibc

/// swift-log handler printing one readable line per entry on stderr, for terminals and non-systemd runs:
///
///     2026-11-29T02:11:24Z info [task 42 web-shop → Production] change approved change_number=CHG0030002
///
/// The bracket shows `task_id`, `project` and `environment` when present; other metadata follows as sorted
/// `key=value` pairs (quoted when needed); `message_id` is left out (it is for the journal catalog).
/// Newlines are escaped so an entry never spans lines.
public struct ReadableStderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String

    public init(
        label: String,
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = JournalLogHandler.mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        Self.write(Self.format(event: event, metadata: merged))
    }

    /// Keys shown in the bracket (or hidden) rather than as `key=value`.
    static let contextKeys: Set<String> = ["task_id", "project", "environment", "message_id"]

    /// The line for `event` (without trailing newline); `secondsSinceEpoch` defaults to now.
    public static func format(event: LogEvent, metadata: Logger.Metadata, secondsSinceEpoch: Int? = nil) -> String {
        var line = timestamp(secondsSinceEpoch ?? Int(time(nil))) + " " + event.level.rawValue
        var context: [String] = []
        if let task = metadata["task_id"] { context.append("task \(JournalFields.text(task))") }
        if let project = metadata["project"] { context.append(JournalFields.text(project)) }
        if let environment = metadata["environment"] { context.append("→ \(JournalFields.text(environment))") }
        if !context.isEmpty { line += " [" + escapeNewlines(context.joined(separator: " ")) + "]" }
        line += " " + escapeNewlines(event.message.description)
        for key in metadata.keys.sorted() where !contextKeys.contains(key) {
            line += " \(key)=\(quoted(JournalFields.text(metadata[key]!)))"
        }
        if let error = event.error {
            line += " error=\(quoted(String(describing: error)))"
        }
        return line
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
    static func timestamp(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
            + "T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    static func escapeNewlines(_ text: String) -> String {
        guard text.contains(where: { $0.isNewline }) else { return text }
        var out = ""
        for character in text {
            switch character {
            case "\n": out += "\\n"
            case "\r\n": out += "\\r\\n"
            case "\r": out += "\\r"
            default: out.append(character)
            }
        }
        return out
    }

    /// Quotes values with spaces, quotes, `=` or newlines (or empty ones) so `key=value` stays parseable.
    static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline || $0 == "\t" }
        guard needsQuotes else { return value }
        var out = "\""
        for character in value {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r\n": out += "\\r\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.append(character)
            }
        }
        return out + "\""
    }

    /// Writes `line` plus newline to stderr with as few `write(2)` calls as possible (one, normally), so
    /// concurrent entries do not interleave mid-line.
    static func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
