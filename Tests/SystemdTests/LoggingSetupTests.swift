import Glibc
import Logging
import Testing

@testable import Systemd

@Suite struct LoggingSetupTests {
    /// What systemd would put in JOURNAL_STREAM if fd 2 were the journal stream.
    func journalStreamOfStderr() -> String {
        var status = stat()
        fstat(2, &status)
        return "\(status.st_dev):\(status.st_ino)"
    }

    @Test func journalIsChosenWhenJournalStreamMatchesStderr() {
        #expect(LoggingSetup.detectDestination(journalStream: journalStreamOfStderr()) == .journal)
    }

    @Test func stderrIsChosenOtherwise() {
        #expect(LoggingSetup.detectDestination(journalStream: nil) == .stderr)
        #expect(LoggingSetup.detectDestination(journalStream: "garbage") == .stderr)
        #expect(LoggingSetup.detectDestination(journalStream: "1:2:3") == .stderr)
        // Inherited from a parent whose stderr was the journal, but ours is something else.
        var status = stat()
        fstat(2, &status)
        #expect(LoggingSetup.detectDestination(journalStream: "\(status.st_dev):\(status.st_ino &+ 1)") == .stderr)
    }

    @Test func factoryBuildsTheRequestedHandler() {
        let journal = LoggingSetup.makeHandler(label: "a", identifier: "cg", level: .debug, destination: .journal)
        let stderr = LoggingSetup.makeHandler(label: "b", level: .notice, destination: .stderr)
        #expect((journal as? JournalLogHandler)?.identifier == "cg")
        #expect(journal.logLevel == .debug)
        #expect(stderr is ReadableStderrLogHandler)
        #expect(stderr.logLevel == .notice)
    }
}
