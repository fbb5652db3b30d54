import Logging

import Glibc

/// Chooses where the daemon's logs go and installs the matching swift-log handler.
public enum LoggingSetup {
    public enum Destination: String, Sendable {
        /// Structured entries through `sd_journal_sendv` (``JournalLogHandler``).
        case journal
        /// One readable line per entry on stderr (``ReadableStderrLogHandler``).
        case stderr
    }

    /// Bootstraps swift-log once for the process (swift-log allows only one bootstrap): journald when stderr is
    /// connected to the journal (started by systemd), else readable stderr lines.
    public static func bootstrap(identifier: String, level: Logger.Level) {
        let destination = detectDestination()
        LoggingSystem.bootstrap { label in
            makeHandler(label: label, identifier: identifier, level: level, destination: destination)
        }
    }

    /// A handler for `label`; `destination` nil means ``detectDestination(journalStream:)``.
    public static func makeHandler(
        label: String,
        identifier: String = "changegate",
        level: Logger.Level = .info,
        destination: Destination? = nil
    ) -> any LogHandler {
        switch destination ?? detectDestination() {
        case .journal:
            return JournalLogHandler(label: label, identifier: identifier, logLevel: level)
        case .stderr:
            return ReadableStderrLogHandler(label: label, logLevel: level)
        }
    }

    /// `.journal` when `JOURNAL_STREAM` (default: from the environment) names the device and inode of fd 2,
    /// which is how systemd says "your stderr is the journal" (`sd_journal_stream_fd`, systemd.exec(5)).
    /// A child that inherited the variable but whose stderr was redirected gets `.stderr`.
    public static func detectDestination(journalStream: String? = currentJournalStream()) -> Destination {
        guard let journalStream, let (device, inode) = parseJournalStream(journalStream) else { return .stderr }
        var status = stat()
        guard fstat(2, &status) == 0 else { return .stderr }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode ? .journal : .stderr
    }

    public static func currentJournalStream() -> String? {
        getenv("JOURNAL_STREAM").map { String(cString: $0) }
    }

    /// `"<device>:<inode>"` (decimal) → numbers.
    static func parseJournalStream(_ text: String) -> (device: UInt64, inode: UInt64)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return (device, inode)
    }
}
