import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// A simulated ServiceNow instance, ready to serve. Build it from a configuration, then `run` it (until
/// cancelled, or until SIGINT/SIGTERM with `handleSignals`), or use `withRunning` in tests.
public struct SimulatorApplication: Sendable {
    public let configuration: SimulatorConfiguration
    let core: SimulatorCore
    private let restored: PersistedState?

    /// Reads the state file, if one is configured, so a broken file fails here rather than after binding.
    public init(configuration: SimulatorConfiguration = SimulatorConfiguration()) throws {
        self.configuration = configuration
        core = SimulatorCore(configuration: configuration)
        restored = try configuration.stateFile.flatMap { path throws(SimulatorError) in try StateFile(path: path).load() }
    }

    /// Serves until the task is cancelled or, with `handleSignals`, until SIGINT/SIGTERM (graceful shutdown).
    /// - Parameter onListening: called once with the bound port (useful with port 0).
    public func run(handleSignals: Bool = false, onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) async throws {
        try await serve(handleSignals: handleSignals, onListening: onListening, onGroup: { _ in })
    }

    /// `run`, handing out the service group so `withRunning` can stop the server gracefully (cancelling it
    /// instead makes Hummingbird log errors about its child channels).
    private func serve(handleSignals: Bool, onListening: @escaping @Sendable (_ port: Int) async -> Void,
                       onGroup: (ServiceGroup) -> Void) async throws {
        if let restored { await core.store.restore(restored) }
        let configuration = configuration
        var httpLogger = Logger(label: "changegate-snowsim.http")
        httpLogger.logLevel = .warning
        let app = Application(
            responder: SimulatorResponder(core: core),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                if let portFile = configuration.portFile {
                    do {
                        try Data("\(port)\n".utf8).write(to: URL(fileURLWithPath: portFile), options: .atomic)
                    } catch {
                        configuration.logger.error("cannot write port file \(portFile): \(error)")
                    }
                }
                await onListening(port)
            },
            logger: httpLogger
        )
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: httpLogger))
        onGroup(serviceGroup)
        let stateFile = configuration.stateFile.map(StateFile.init(path:))
        let store = core.store
        let logger = core.logger
        let interval = configuration.persistInterval
        var failure: (any Error)?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await serviceGroup.run() }
                group.addTask { [webhooks = core.webhooks] in await webhooks.run() }
                if let stateFile {
                    group.addTask { await Self.persistLoop(store: store, file: stateFile, every: interval, logger: logger) }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            failure = error
        }
        // Whatever stopped the server (signal, cancellation, error), the last changes reach the state file.
        if let stateFile { await Self.flush(store: store, file: stateFile, logger: logger, lastWritten: -1) }
        if let failure { throw failure }
    }

    /// Starts the simulator on its configured host and port (use port 0 in tests), runs `body` with the base
    /// URL (`http://127.0.0.1:PORT`), then stops it.
    public func withRunning<T: Sendable>(_ body: (_ baseURL: String) async throws -> T) async throws -> T {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let (groups, groupContinuation) = AsyncStream<ServiceGroup>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await self.serve(handleSignals: false, onListening: { port in continuation.yield(port) }, onGroup: {
                    groupContinuation.yield($0)
                    groupContinuation.finish()
                })
            }
            var iterator = ports.makeAsyncIterator()
            var groupIterator = groups.makeAsyncIterator()
            guard let port = await iterator.next(), let serviceGroup = await groupIterator.next() else {
                try await group.next()
                throw SimulatorError.didNotStart("the simulator stopped before listening on \(configuration.host):\(configuration.port)")
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body("http://\(Self.urlHost(configuration.host)):\(port)"))
            } catch {
                result = .failure(error)
            }
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }

    static func urlHost(_ host: String) -> String {
        if host == "0.0.0.0" || host.isEmpty { return "127.0.0.1" }
        if host == "::" { return "[::1]" }
        return host.contains(":") ? "[\(host)]" : host
    }

    /// Writes the state file shortly after changes, coalescing bursts of writes into one.
    private static func persistLoop(store: SimulatorStore, file: StateFile, every interval: Duration, logger: Logger) async {
        var written = await store.revision
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            written = await flush(store: store, file: file, logger: logger, lastWritten: written)
        }
    }

    @discardableResult
    private static func flush(store: SimulatorStore, file: StateFile, logger: Logger, lastWritten: Int) async -> Int {
        let (revision, snapshot) = await store.isolated { s in (s.revision, s.revision == lastWritten ? nil : s.snapshot()) }
        guard let snapshot else { return revision }
        do {
            try file.save(snapshot)
        } catch {
            logger.error("\(error)")
        }
        return revision
    }
}
