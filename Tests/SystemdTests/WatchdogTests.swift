import Logging
import Synchronization
import Testing

@testable import Systemd

/// Virtual time: `sleep` advances it instantly and lets a test script what happens at each step.
final class VirtualTime: Sendable {
    let origin = ContinuousClock.now
    private let elapsed = Mutex<Duration>(.zero)
    var now: ContinuousClock.Instant { origin + elapsed.withLock { $0 } }
    var offset: Duration { elapsed.withLock { $0 } }
    func advance(by duration: Duration) { elapsed.withLock { $0 += duration } }
}

@Suite struct WatchdogTests {
    let logger = Logger(label: "test.watchdog") { _ in SwiftLogNoOpLogHandler() }

    @Test func pingsOnlyWhileTheHeartbeatIsFresh() {
        let time = VirtualTime()
        let heartbeat = ProgressHeartbeat(now: { time.now })
        let recorder = NotificationRecorder()
        let watchdog = WatchdogService(
            heartbeat: heartbeat, notifier: recorder.notifier, watchdogInterval: .seconds(30), logger: logger,
            now: { time.now }
        )
        #expect(watchdog.pingInterval == .seconds(15))
        #expect(watchdog.tick(at: time.origin + .seconds(15)))
        #expect(watchdog.tick(at: time.origin + .seconds(30)), "a beat exactly one interval old still counts")
        #expect(!watchdog.tick(at: time.origin + .seconds(31)), "stale heartbeat: no ping")
        time.advance(by: .seconds(40))
        heartbeat.beat()
        #expect(watchdog.tick(at: time.now + .seconds(1)), "pings resume once the loop beats again")
        #expect(recorder.messages == ["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"])
        #expect(heartbeat.beatCount == 1)
    }

    /// The service loop under virtual time: the scheduler beats every 5 s until it gets stuck at t=60 s.
    /// Pings (every 15 s) must stop once the last beat is more than 30 s old, and never come back.
    @Test func stuckLoopStopsThePings() async throws {
        let time = VirtualTime()
        let heartbeat = ProgressHeartbeat(now: { time.now })
        let pings = Mutex<[Duration]>([])
        let notifier = SystemdNotifier(sink: { message in
            if message == "WATCHDOG=1" { pings.withLock { $0.append(time.offset) } }
        })
        let watchdog = WatchdogService(
            heartbeat: heartbeat, notifier: notifier, watchdogInterval: .seconds(30), logger: logger,
            now: { time.now },
            sleep: { duration in
                // The scheduler's beats during this sleep, in 5 s steps, until it hangs at 60 s.
                var slept = Duration.zero
                while slept < duration {
                    time.advance(by: .seconds(5))
                    slept += .seconds(5)
                    if time.offset <= .seconds(60) { heartbeat.beat() }
                }
                if time.offset >= .seconds(300) { throw CancellationError() }
                await Task.yield()
            }
        )
        try await watchdog.run()
        let sent = pings.withLock { $0 }
        #expect(sent == [.zero, .seconds(15), .seconds(30), .seconds(45), .seconds(60), .seconds(75), .seconds(90)])
        #expect(heartbeat.beatCount == 12)
    }

    @Test func aHealthyLoopIsPingedEveryHalfInterval() async throws {
        let time = VirtualTime()
        let heartbeat = ProgressHeartbeat(now: { time.now })
        let recorder = NotificationRecorder()
        let watchdog = WatchdogService(
            heartbeat: heartbeat, notifier: recorder.notifier, watchdogInterval: .seconds(10), logger: logger,
            now: { time.now },
            sleep: { duration in
                time.advance(by: duration)
                heartbeat.beat()
                if time.offset >= .seconds(100) { throw CancellationError() }
            }
        )
        try await watchdog.run()
        #expect(recorder.messages.count == 20, "t = 0, 5, …, 95")
    }

    @Test func stricterHeartbeatAgeCanBeConfigured() {
        let time = VirtualTime()
        let heartbeat = ProgressHeartbeat(now: { time.now })
        let watchdog = WatchdogService(
            heartbeat: heartbeat, notifier: NotificationRecorder().notifier, watchdogInterval: .seconds(30),
            maximumHeartbeatAge: .seconds(10), logger: logger
        )
        #expect(watchdog.maximumBeatGap == .seconds(10))
        #expect(watchdog.tick(at: time.origin + .seconds(10)))
        #expect(!watchdog.tick(at: time.origin + .seconds(11)))
    }

    @Test func withoutWatchdogTheServiceIdlesUntilCancelled() async throws {
        let recorder = NotificationRecorder()
        let watchdog = WatchdogService(
            heartbeat: ProgressHeartbeat(), notifier: recorder.notifier, watchdogInterval: nil, logger: logger
        )
        #expect(!watchdog.tick())
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watchdog.run() }
            group.cancelAll()
        }
        #expect(recorder.messages.isEmpty)
    }

    /// The entry logged when pings stop carries the id the caller gave (the application's catalogue), else none.
    @Test func withheldPingsAreLoggedWithTheCallersMessageID() {
        let time = VirtualTime()
        for id in [MessageID(known: "e1973695d1334e1e89b71de7d83ddc63"), nil] {
            let entries = EntryRecorder()
            let watchdog = WatchdogService(
                heartbeat: ProgressHeartbeat(now: { time.now }), notifier: NotificationRecorder().notifier,
                watchdogInterval: .seconds(30), logger: entries.logger, stalledMessageID: id
            )
            #expect(!watchdog.tick(at: time.now + .seconds(31)))
            let critical = entries.entries.filter { $0.level == .critical }
            #expect(critical.count == 1, "one entry when the pings stop")
            #expect(critical.first?.metadata["message_id"] == id.map { .string($0.hex) })
        }
    }

    /// Real clock, short interval: a few pings while beating, none once the beats stop.
    @Test func realClockPingsStopAfterBeatsStop() async throws {
        let recorder = NotificationRecorder()
        let heartbeat = ProgressHeartbeat()
        let watchdog = WatchdogService(
            heartbeat: heartbeat, notifier: recorder.notifier, watchdogInterval: .milliseconds(400), logger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watchdog.run() }
            for _ in 0..<10 {
                heartbeat.beat()
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(1000))  // beats stop; pings stop 400 ms later
            let countWhenStale = recorder.messages.count
            try await Task.sleep(for: .milliseconds(800))
            #expect(recorder.messages.count == countWhenStale, "no pings once the heartbeat is stale")
            #expect(countWhenStale >= 2)
            group.cancelAll()
        }
    }
}

/// Keeps the level and metadata of every entry logged.
final class EntryRecorder: Sendable {
    struct Entry: Sendable { let level: Logger.Level; let metadata: Logger.Metadata }
    private let kept = Mutex<[Entry]>([])
    var entries: [Entry] { kept.withLock { $0 } }
    var logger: Logger { Logger(label: "test.entries") { _ in Handler(recorder: self) } }

    struct Handler: LogHandler {
        let recorder: EntryRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            recorder.kept.withLock { $0.append(Entry(level: event.level, metadata: merged)) }
        }
    }
}
