import Logging
import Testing

@testable import Systemd

@Suite struct ReadableStderrLogHandlerTests {
    func event(_ level: Logger.Level, _ message: Logger.Message) -> LogEvent {
        LogEvent(level: level, message: message, metadata: nil, source: "t", file: "f", function: "g", line: 1)
    }

    @Test func lineShowsTimeLevelTaskContextMessageAndRemainingMetadata() {
        let line = ReadableStderrLogHandler.format(
            event: event(.info, "change approved"),
            metadata: [
                "task_id": "42", "project": "web-shop", "environment": "Production",
                "change_number": "CHG0030002", "message_id": MessageID(known: "0fdf3b69ec7d401cb5c67c4efe326e5f").metadataValue,
                "approver": "Jane Doe",
            ],
            secondsSinceEpoch: 1_795_918_284
        )
        #expect(line == "2026-11-29T02:11:24Z info [task 42 web-shop → Production] change approved "
            + "approver=\"Jane Doe\" change_number=CHG0030002")
    }

    @Test func entryWithoutContextHasNoBracket() {
        let line = ReadableStderrLogHandler.format(event: event(.warning, "no tasks"), metadata: [:], secondsSinceEpoch: 0)
        #expect(line == "1970-01-01T00:00:00Z warning no tasks")
    }

    @Test func newlinesNeverSplitAnEntry() {
        let line = ReadableStderrLogHandler.format(
            event: event(.error, "deploy said:\nboom"), metadata: ["output": "a\nb", "empty": ""], secondsSinceEpoch: 0
        )
        #expect(!line.contains("\n"))
        #expect(line == #"1970-01-01T00:00:00Z error deploy said:\nboom empty="" output="a\nb""#)
    }

    @Test func quotingEscapesQuotesAndBackslashes() {
        #expect(ReadableStderrLogHandler.quoted(#"say "hi""#) == #""say \"hi\"""#)
        #expect(ReadableStderrLogHandler.quoted("plain") == "plain")
        #expect(ReadableStderrLogHandler.quoted("k=v") == #""k=v""#)
    }

    @Test func timestampsAreUTC() {
        #expect(ReadableStderrLogHandler.timestamp(951_782_400) == "2000-02-29T00:00:00Z")
    }
}
