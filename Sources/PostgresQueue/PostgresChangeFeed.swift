import Foundation
import PostgresNIO
import QueueStore

/// Intake without a poll: a session of its own `LISTEN`s on the queue's channel, which the triggers on
/// `deployments` notify on every insert and cancel request. A notification sent while no session listens is lost
/// (PostgreSQL keeps none), so each new session reports a change as soon as it listens, and a slow safety tick
/// (10 × `fallbackInterval`) runs beside it. A lost session is reopened after `fallbackInterval`; meanwhile the
/// tick keeps intake going at the fallback pace.
extension PostgresQueueStore {
    public func changeFeed(fallbackInterval: Duration) throws(QueueStoreError) -> QueueChangeFeed {
        let interval = min(max(fallbackInterval, .milliseconds(10)), .seconds(3600))
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let client = self.client, logger = self.logger, path = self.path
        return QueueChangeFeed(pollingReason: nil, changes: { stream }, run: {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval * 10)
                        continuation.yield()
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            try await client.withConnection { connection in
                                try await connection.listen(on: PostgresSchema.channel) { notifications in
                                    continuation.yield()  // listening now: anything inserted before this is read by the yield's query
                                    for try await _ in notifications { continuation.yield() }
                                }
                            }
                        } catch {
                            if Task.isCancelled { break }
                            logger.warning("The queue's LISTEN session ended; reopening it in \(interval): \(Self.wrap(error, url: path))")
                        }
                        continuation.yield()
                        try? await Task.sleep(for: interval)
                    }
                }
            }
            continuation.finish()
        })
    }
}
