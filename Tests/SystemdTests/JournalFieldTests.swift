import Logging
import Testing

@testable import Systemd

@Suite struct JournalFieldNameTests {
    @Test(arguments: [
        ("task_id", "TASK_ID"), ("project", "PROJECT"), ("environment", "ENVIRONMENT"), ("release", "RELEASE"),
        ("change_number", "CHANGE_NUMBER"), ("task_state", "TASK_STATE"), ("outcome", "OUTCOME"),
        ("message_id", "MESSAGE_ID"),
    ])
    func daemonKeysMapToTheirJournalFields(key: String, field: String) {
        #expect(JournalFields.fieldName(forMetadataKey: key) == field)
    }

    @Test func invalidCharactersBecomeUnderscores() {
        #expect(JournalFields.fieldName(forMetadataKey: "http.status-code") == "HTTP_STATUS_CODE")
        #expect(JournalFields.fieldName(forMetadataKey: "a b") == "A_B")
        // "é" is two UTF-8 bytes: two underscores.
        #expect(JournalFields.fieldName(forMetadataKey: "café") == "CAF__")
    }

    @Test func leadingUnderscoresAreDroppedBecauseTheyMarkTrustedFields() {
        #expect(JournalFields.fieldName(forMetadataKey: "_pid") == "PID")
        #expect(JournalFields.fieldName(forMetadataKey: "__x") == "X")
        #expect(JournalFields.fieldName(forMetadataKey: "._hidden") == "HIDDEN")
    }

    @Test func leadingDigitGetsAPrefix() {
        #expect(JournalFields.fieldName(forMetadataKey: "2fa") == "F_2FA")
    }

    @Test func unusableKeysAreDropped() {
        #expect(JournalFields.fieldName(forMetadataKey: "") == nil)
        #expect(JournalFields.fieldName(forMetadataKey: "___") == nil)
        #expect(JournalFields.fieldName(forMetadataKey: "-") == nil)
    }

    @Test func namesAreCutAtSixtyFourCharacters() throws {
        let name = try #require(JournalFields.fieldName(forMetadataKey: String(repeating: "k", count: 100)))
        #expect(name == String(repeating: "K", count: 64))
    }

    @Test func keysCollidingWithTheHandlersOwnFieldsArePrefixed() {
        #expect(JournalFields.fieldName(forMetadataKey: "message") == "X_MESSAGE")
        #expect(JournalFields.fieldName(forMetadataKey: "priority") == "X_PRIORITY")
        #expect(JournalFields.fieldName(forMetadataKey: "code_line") == "X_CODE_LINE")
    }

    @Test func everyProducedNameIsValidForJournald() {
        let keys = ["task_id", "_x", "9lives", "ü", "a.b.c", String(repeating: "z", count: 80), "message", "MiXeD"]
        for key in keys {
            guard let name = JournalFields.fieldName(forMetadataKey: key) else { continue }
            #expect(name.utf8.count <= 64)
            #expect(name.utf8.first.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } == true, "\(name)")
            #expect(name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }, "\(name)")
        }
    }
}

@Suite struct SyslogPriorityTests {
    @Test(arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func levelMapsToSyslogPriority(level: Logger.Level, priority: Int) {
        #expect(JournalFields.syslogPriority(for: level) == priority)
    }
}

@Suite struct JournalEntryFieldTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    @Test func entryCarriesMessagePriorityIdentifierCodeLocationAndMetadata() {
        let event = LogEvent(
            level: .warning, message: "deploy failed", metadata: nil, source: "Daemon",
            file: "Daemon/Scheduler.swift", function: "tick()", line: 87
        )
        let fields = JournalFields.fields(
            for: event, identifier: "changegate", label: "changegate.scheduler",
            metadata: ["task_id": "42", "output": "line 1\nline 2", "message_id": MessageID(known: "d58c8089637146ae95bbbc2ebe6246f1").metadataValue]
        )
        let byName = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(fields.count == byName.count, "every field appears once")
        #expect(byName["MESSAGE"] == "deploy failed")
        #expect(byName["PRIORITY"] == "4")
        #expect(byName["SYSLOG_IDENTIFIER"] == "changegate")
        #expect(byName["CODE_FILE"] == "Daemon/Scheduler.swift")
        #expect(byName["CODE_LINE"] == "87")
        #expect(byName["CODE_FUNC"] == "tick()")
        #expect(byName["LOGGER"] == "changegate.scheduler")
        #expect(byName["TASK_ID"] == "42")
        #expect(byName["OUTPUT"] == "line 1\nline 2")
        #expect(byName["MESSAGE_ID"] == "d58c8089637146ae95bbbc2ebe6246f1")
    }

    @Test func errorIsAttachedAndKeysMappingToTheSameFieldKeepOneValue() {
        var event = LogEvent(level: .error, message: "m", metadata: nil, source: "s", file: "f", function: "g", line: 1)
        event.error = Failure()
        let fields = JournalFields.fields(for: event, identifier: "i", label: "l", metadata: ["task-id": "1", "task_id": "2"])
        #expect(fields.filter { $0.name == "TASK_ID" }.count == 1)
        #expect(fields.first { $0.name == "ERROR" }?.value == "disk full")
    }

    @Test func metadataValuesRenderAsText() {
        #expect(JournalFields.text(.string("a\nb")) == "a\nb")
        #expect(JournalFields.text(.stringConvertible(42)) == "42")
        #expect(JournalFields.text(.array(["a", "b"])) == #"["a", "b"]"#)
    }

    @Test func callMetadataOverridesHandlerMetadata() {
        let merged = JournalLogHandler.mergedMetadata(
            handler: ["project": "old", "task_id": "1"], provider: nil, event: ["project": "new"]
        )
        #expect(merged["project"] == "new")
        #expect(merged["task_id"] == "1")
    }
}
