import Logging

/// A journald `MESSAGE_ID=`: 128 bits as 32 lowercase hex digits. An application gives each kind of event it logs
/// a fixed id, explains it in a journal message catalog so `journalctl -x` shows what happened and what to do,
/// and `journalctl MESSAGE_ID=…` finds all events of one kind. The ids themselves belong to the application
/// (as `static let`s in an extension of this type); this module only defines the type.
///
/// Attach one with `logger.info("…", metadata: ["message_id": id.metadataValue])`.
public struct MessageID: Sendable, Hashable, CustomStringConvertible {
    /// 32 lowercase hex digits.
    public let hex: String

    /// Accepts 32 hex digits (any case) or a UUID with dashes; nil otherwise.
    public init?(_ text: String) {
        let digits = text.filter { $0 != "-" }.lowercased()
        guard digits.utf8.count == 32, digits.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else { return nil }
        self.hex = digits
    }

    /// An id written into the source as 32 lowercase hex digits (an application's catalogue). Not checked here,
    /// so a catalogue needs no force-unwraps: check every id with `init?(_:)` in a test instead.
    public init(known hex: StaticString) {
        self.hex = hex.description
    }

    public var description: String { hex }

    /// For `Logger.Metadata["message_id"]`.
    public var metadataValue: Logger.MetadataValue { .string(hex) }
}
