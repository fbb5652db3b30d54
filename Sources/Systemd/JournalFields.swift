import Logging

/// How swift-log concepts map onto journald fields.
public enum JournalFields {
    /// Fields the handler itself writes; metadata keys that map onto one of these get an `X_` prefix instead of
    /// silently duplicating (journald would keep both values, confusing `journalctl -o verbose` readers).
    public static let reservedFieldNames: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "SYSLOG_TIMESTAMP",
        "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER", "ERROR", "ERRNO",
    ]

    /// journald's limit on field-name length.
    public static let maximumFieldNameLength = 64

    /// Turns a metadata key into a valid journal field name: uppercase ASCII, every other character `_`,
    /// no leading `_` (those are trusted fields journald would drop), a leading digit gets an `F_` prefix,
    /// at most 64 characters. `task_id` → `TASK_ID`, `change-number` → `CHANGE_NUMBER`. Nil for keys that
    /// have nothing usable (empty, only underscores). Reserved names (see ``reservedFieldNames``) get `X_`.
    public static func fieldName(forMetadataKey key: String) -> String? {
        var bytes: [UInt8] = key.utf8.map { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - 32
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return byte
            default: return UInt8(ascii: "_")
            }
        }
        // A multi-byte UTF-8 character became several `_`; that is fine, names only need to be stable.
        while bytes.first == UInt8(ascii: "_") { bytes.removeFirst() }
        guard let first = bytes.first else { return nil }
        if first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") {
            bytes.insert(contentsOf: Array("F_".utf8), at: 0)
        }
        var name = String(decoding: bytes, as: UTF8.self)
        if reservedFieldNames.contains(name) { name = "X_" + name }
        if name.utf8.count > maximumFieldNameLength { name = String(name.prefix(maximumFieldNameLength)) }
        return name
    }

    /// syslog priority (0 emerg … 7 debug) for a swift-log level. swift-log has no alert/emerg; `critical`
    /// is the daemon's "cannot continue" and maps to `crit` (2).
    public static func syslogPriority(for level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Metadata value as journal text: strings as-is (newlines kept, journald stores them binary-safe),
    /// arrays and dictionaries in swift-log's usual rendering.
    public static func text(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        case .array, .dictionary: return value.description
        }
    }

    /// The complete field list for one entry, in order (handy for tests and for other journal writers).
    /// Later metadata with the same field name wins over earlier; fields appear once.
    public static func fields(
        for event: LogEvent,
        identifier: String,
        label: String,
        metadata: Logger.Metadata
    ) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(syslogPriority(for: event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("LOGGER", label),
        ]
        if let error = event.error {
            fields.append(("ERROR", String(describing: error)))
        }
        var seen: [String: Int] = [:]
        for key in metadata.keys.sorted() {
            guard let name = fieldName(forMetadataKey: key), let value = metadata[key] else { continue }
            if let index = seen[name] {
                fields[index].value = text(value)
            } else {
                seen[name] = fields.count
                fields.append((name, text(value)))
            }
        }
        return fields
    }
}
