import CSystemd
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// swift-log handler writing structured entries to journald with `sd_journal_sendv(3)`.
///
/// Each entry carries `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, `LOGGER`
/// (the logger label) and every metadata key as its own field (see ``JournalFields/fieldName(forMetadataKey:)``),
/// so `journalctl -u changegate TASK_ID=42` works. If journald cannot be reached the entry goes to stderr in
/// the readable format instead of being lost.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    /// The swift-log label (e.g. `changegate.scheduler`), stored in `LOGGER=`.
    public let label: String
    /// `SYSLOG_IDENTIFIER=`, shown by `journalctl` in front of every line (e.g. `changegate`).
    public let identifier: String

    public init(
        label: String,
        identifier: String,
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = Self.mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        let fields = JournalFields.fields(for: event, identifier: identifier, label: label, metadata: merged)
        if Self.send(fields) < 0 {
            ReadableStderrLogHandler.write(ReadableStderrLogHandler.format(event: event, metadata: merged))
        }
    }

    /// Sends one entry made of `fields` (`NAME=value` each, binary-safe: values may contain newlines).
    /// Returns 0 on success or a negative errno (e.g. `-ENOENT` when no journald socket exists).
    @discardableResult
    public static func send(_ fields: [(name: String, value: String)]) -> Int32 {
        // One contiguous buffer with all "NAME=value" strings; iovecs point into it.
        var buffer: [UInt8] = []
        var ranges: [(offset: Int, length: Int)] = []
        buffer.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 1 })
        for field in fields {
            let start = buffer.count
            buffer.append(contentsOf: field.name.utf8)
            buffer.append(UInt8(ascii: "="))
            buffer.append(contentsOf: field.value.utf8)
            ranges.append((start, buffer.count - start))
        }
        return buffer.withUnsafeMutableBytes { raw -> Int32 in
            guard let base = raw.baseAddress else { return -EINVAL }
            var iovecs = ranges.map { iovec(iov_base: base + $0.offset, iov_len: $0.length) }
            return iovecs.withUnsafeMutableBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    /// Handler metadata, then the provider's, then the call's own (later wins).
    static func mergedMetadata(
        handler: Logger.Metadata,
        provider: Logger.MetadataProvider?,
        event: Logger.Metadata?
    ) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let event, !event.isEmpty {
            merged.merge(event) { _, new in new }
        }
        return merged
    }
}
