import Synchronization
import Testing

@testable import Systemd

/// Collects what a notifier would have sent to systemd.
final class NotificationRecorder: Sendable {
    private let sent = Mutex<[String]>([])
    var messages: [String] { sent.withLock { $0 } }
    var notifier: SystemdNotifier { SystemdNotifier(sink: { message in self.sent.withLock { $0.append(message) } }) }
}

@Suite struct SystemdNotifierTests {
    @Test func lifecycleMessagesUseSystemdsAssignments() {
        let recorder = NotificationRecorder()
        let notifier = recorder.notifier
        notifier.ready(status: "idle")
        notifier.status("2 tasks waiting\nfor approval")
        notifier.watchdogPing()
        notifier.extendTimeout(.seconds(90))
        notifier.stopping()
        #expect(recorder.messages == [
            "READY=1\nSTATUS=idle",
            "STATUS=2 tasks waiting for approval",
            "WATCHDOG=1",
            "EXTEND_TIMEOUT_USEC=90000000",
            "STOPPING=1",
        ])
    }

    @Test func reloadingCarriesTheCurrentMonotonicTime() throws {
        let recorder = NotificationRecorder()
        let before = SystemdNotifier.monotonicMicroseconds()
        recorder.notifier.reloading()
        let after = SystemdNotifier.monotonicMicroseconds()
        let lines = try #require(recorder.messages.first).split(separator: "\n")
        #expect(lines.first == "RELOADING=1")
        let usec = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
        #expect(lines.last?.hasPrefix("MONOTONIC_USEC=") == true)
        #expect((before...after).contains(usec))
    }

    @Test func durationsConvertToMicroseconds() {
        #expect(SystemdNotifier.microseconds(.milliseconds(1500)) == 1_500_000)
        #expect(SystemdNotifier.microseconds(.nanoseconds(999)) == 0)
        #expect(SystemdNotifier.microseconds(.seconds(-3)) == 0)
    }

    /// The test process may itself run under systemd; only assert what holds either way.
    @Test func withoutNotifySocketNothingIsSent() {
        let notifier = SystemdNotifier()
        if !notifier.isActive {
            #expect(notifier.ready() == false)
            #expect(notifier.watchdogPing() == false)
        }
        #expect(NotificationRecorder().notifier.isActive)
        #expect(NotificationRecorder().notifier.watchdogInterval == nil)
    }
}
