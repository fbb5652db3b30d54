import ChangeWebhook
import Foundation
import ServiceNowClient

/// Reads started by push notifications. At most one per change is in flight; a notice that arrives meanwhile
/// asks for one more read after it, since the read in flight may have left before the update it announces.
struct NotifiedReads {
    /// To start at the end of this step (the loop's task group is at hand there).
    var pending: [WatchKey] = []
    var inFlight: Set<WatchKey> = []
    var again: Set<WatchKey> = []
}

extension Scheduler {
    /// The webhook listener's callback: ServiceNow says this change was updated. Safe from any task.
    public func changeNotified(_ notification: ChangeNotification) {
        inbox.post(.changeNotified(notification))
    }

    /// Queues an immediate read of the change on every connection that watches it. The notice itself is not
    /// believed: the read's answer goes the way of a poll's, so the usual decision path decides.
    func noteNotification(_ notification: ChangeNotification, _ loop: inout LoopState) {
        let keys = loop.watch.connections.map { WatchKey(connection: $0, number: notification.number) }
            .filter { !loop.watch.watchers($0).isEmpty }
        guard !keys.isEmpty else {
            logger.debug("Push notification for \(notification), which no deployment waits on or runs under: ignored")
            return
        }
        for key in keys {
            if loop.notified.inFlight.contains(key) {
                loop.notified.again.insert(key)
            } else if !loop.notified.pending.contains(key) {
                loop.notified.pending.append(key)
            }
        }
    }

    /// Starts the queued reads in the loop's task group, like `startPolls`; each posts `.statuses(…, notified: true)`.
    func startNotifiedReads(_ loop: inout LoopState, group: inout DiscardingTaskGroup) {
        let due = loop.notified.pending
        loop.notified.pending = []
        for key in due {
            guard let service = services[key.connection] else { continue }
            loop.notified.inFlight.insert(key)
            let inbox = self.inbox
            group.addTask {
                let numbers = [key.number]
                do throws(ServiceNowError) {
                    inbox.post(.statuses(connection: key.connection, numbers: numbers, .success(try await service.statuses(numbers: numbers)), notified: true))
                } catch {
                    inbox.post(.statuses(connection: key.connection, numbers: numbers, .failure(error), notified: true))
                }
            }
        }
    }

    /// A notified read answered: its change may be read again, at once if another notice came meanwhile.
    func notifiedReadEnded(connection: String, numbers: [String], _ loop: inout LoopState) {
        for number in numbers {
            let key = WatchKey(connection: connection, number: number)
            loop.notified.inFlight.remove(key)
            if loop.notified.again.remove(key) != nil, !loop.watch.watchers(key).isEmpty { loop.notified.pending.append(key) }
        }
    }
}
