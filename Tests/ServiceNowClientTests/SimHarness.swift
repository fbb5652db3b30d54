import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceNowModel
import ServiceNowSimulator
import Synchronization
import Testing
@testable import ServiceNowClient

/// An in-process simulator on a loopback port, an HTTP client, and helpers for its control API.
struct Sim: Sendable {
    let baseURL: String
    let http: HTTPClient

    static let fastRetry = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(20), maxDelay: .seconds(2), jitter: true)

    /// Runs `body` against a fresh simulator, then stops it and shuts the HTTP client down.
    static func run<T: Sendable>(_ configure: (inout SimulatorConfiguration) -> Void = { _ in }, _ body: (Sim) async throws -> T) async throws -> T {
        var configuration = SimulatorConfiguration()
        configuration.port = 0
        configuration.logger = Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() })
        configure(&configuration)
        let app = try SimulatorApplication(configuration: configuration)
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        do {
            let result = try await app.withRunning { base in try await body(Sim(baseURL: base, http: http)) }
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func client(_ credentials: Credentials = .password(clientID: "changegate", clientSecret: Secret("sim-client-secret"), username: "svc.changegate", password: Secret("sim-password")),
                name: String = "sim", retry: RetryPolicy = Sim.fastRetry, timeout: Duration = .seconds(10),
                concurrency: Int = 4, batch: Int = 100, logger: Logger? = nil) -> ServiceNowClient {
        let configuration = ConnectionConfiguration(name: name, baseURL: baseURL, credentials: credentials, requestTimeout: timeout,
                                                    maxConcurrentRequests: concurrency, retry: retry, statusBatchSize: batch)
        return ServiceNowClient(configuration: configuration, httpClient: http,
                                logger: logger ?? Logger(label: "client", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    // MARK: control API

    @discardableResult
    func control(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let data = Data(bytes.readableBytesView)
        guard response.status.code < 300 else {
            throw SimControlError(text: "\(method.rawValue) \(path) → \(response.status.code): \(String(decoding: data, as: UTF8.self))")
        }
        return try JSONValue.parse(data)
    }

    struct Created: Sendable { let sysID: String; let number: String }

    /// A change typed in by hand (`POST /_sim/changes`).
    @discardableResult
    func createChange(_ title: String, state: ChangeState = .new, type: ChangeType = .normal, correlationID: String? = nil,
                      start: String? = nil, end: String? = nil, updatedOn: String? = nil) async throws -> Created {
        var body: [String: Any] = ["short_description": title, "state": state.rawValue, "type": type.rawValue]
        if let updatedOn { body["sys_updated_on"] = updatedOn }
        if let correlationID { body["correlation_id"] = correlationID }
        if let start { body["start_date"] = start }
        if let end { body["end_date"] = end }
        let r = try await control(.POST, "/_sim/changes", body)
        return Created(sysID: r["sys_id"]?.scalarText ?? "", number: r["number"]?.scalarText ?? "")
    }

    /// Many changes, eight at a time.
    func createChanges(_ count: Int, prefix: String, state: ChangeState = .new) async throws -> [Created] {
        try await withThrowingTaskGroup(of: (Int, Created).self) { group in
            var out = [Created?](repeating: nil, count: count)
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask { (i, try await self.createChange("\(prefix) \(i)", state: state)) }
            }
            while next < min(8, count) { add() }
            while let (i, c) = try await group.next() {
                out[i] = c
                if next < count { add() }
            }
            return out.compactMap { $0 }
        }
    }

    struct LogEntry: Sendable { let at: Date; let method: String; let path: String; let query: String; let status: Int; let user: String }
    struct Requests: Sendable { let total: Int; let byEndpoint: [String: Int]; let log: [LogEntry] }

    func requests() async throws -> Requests {
        let r = try await control(.GET, "/_sim/requests")
        let by = (r["by_endpoint"]?.objectValue ?? [:]).compactMapValues { $0.scalarText.flatMap { Int($0) } }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let log = (r["log"]?.arrayValue ?? []).map { e in
            LogEntry(at: iso.date(from: e["at"]?.scalarText ?? "") ?? .distantPast, method: e["method"]?.scalarText ?? "",
                     path: e["path"]?.scalarText ?? "", query: e["query"]?.scalarText ?? "",
                     status: Int(e["status"]?.scalarText ?? "") ?? 0, user: e["user"]?.scalarText ?? "")
        }
        return Requests(total: Int(r["total"]?.scalarText ?? "") ?? -1, byEndpoint: by, log: log)
    }

    func resetRequests() async throws { try await control(.DELETE, "/_sim/requests") }
    func faults(_ faults: [String: Any]) async throws { try await control(.PUT, "/_sim/faults", faults) }
    func clearFaults() async throws { try await control(.DELETE, "/_sim/faults") }
}

struct SimControlError: Error, CustomStringConvertible { let text: String; var description: String { text } }

/// Keeps every log line (message, handler and event metadata) for the redaction test.
struct CapturingLogHandler: LogHandler {
    final class Store: Sendable {
        let lines: Mutex<[String]> = Mutex([])
        var all: [String] { lines.withLock { $0 } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let text = "\(event.level) \(event.message) \(merged) \(event.source)"
        store.lines.withLock { $0.append(text) }
    }
}
