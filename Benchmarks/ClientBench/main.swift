// ClientBench: how fast the ServiceNow client reads from the in-process simulator, and how many HTTP
// requests a batched status read costs. Run: swift run -c release ClientBench
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceNowClient
import ServiceNowModel
import ServiceNowSimulator

enum Bench {
    static let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    static let calls = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 2_000
    static let concurrency = 4

    /// A call to the simulator's control API.
    @discardableResult
    static func control(_ http: HTTPClient, _ base: String, _ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        return (try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]) ?? [:]
    }

    /// Creates `count` changes through the control API, 16 at a time; returns their numbers in order.
    static func createChanges(_ http: HTTPClient, _ base: String, count: Int) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var numbers = [String](repeating: "", count: count)
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask {
                    let r = try await control(http, base, .POST, "/_sim/changes", ["short_description": "bench change \(i)", "state": -1])
                    return (i, r["number"] as? String ?? "")
                }
            }
            while next < min(16, count) { add() }
            while let (i, number) = try await group.next() {
                numbers[i] = number
                if next < count { add() }
            }
            return numbers
        }
    }

    static func requestTotal(_ http: HTTPClient, _ base: String) async throws -> Int {
        try await control(http, base, .GET, "/_sim/requests")["total"] as? Int ?? -1
    }

    static func makeClient(_ http: HTTPClient, _ base: String) -> ServiceNowClient {
        let configuration = ConnectionConfiguration(
            name: "bench", baseURL: base,
            credentials: .password(clientID: "changegate", clientSecret: Secret("sim-client-secret"), username: "svc.changegate", password: Secret("sim-password")),
            maxConcurrentRequests: concurrency)
        return ServiceNowClient(configuration: configuration, httpClient: http, logger: quiet)
    }


    static func run() async throws {
        var simConfiguration = SimulatorConfiguration()
        simConfiguration.port = 0
        simConfiguration.logger = quiet
        simConfiguration.requestLogLimit = 1_000
        let simulator = try SimulatorApplication(configuration: simConfiguration)
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)

        do {
            try await simulator.withRunning { base in
                print("simulator at \(base)")
                let setupStart = ContinuousClock.now
                let numbers = try await createChanges(http, base, count: 10_000)
                print("created \(numbers.count) changes in \(ContinuousClock.now - setupStart)")

                // Throughput: change(sysID:) with `concurrency` callers (token fetched before the clock starts).
                let client = makeClient(http, base)
                let first = try require(try await client.change(number: numbers[0]), "first change")
                try await control(http, base, .DELETE, "/_sim/requests")
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<concurrency {
                        group.addTask {
                            for _ in stride(from: worker, to: calls, by: concurrency) {
                                _ = try await client.change(sysID: first.sysID)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let served = try await requestTotal(http, base)
                print("")
                print("change(sysID:) ×\(calls), \(concurrency)-way: \(String(format: "%.2f", seconds)) s, \(Int(Double(calls) / seconds)) calls/s, \(served) HTTP requests")

                // Requests per batched status read (fresh client each time, so the token request counts).
                print("")
                print("| changes | HTTP requests | goal ≤ 1+⌈N/100⌉ | found | time |")
                print("|--------:|--------------:|-----------------:|------:|-----:|")
                for n in [1, 100, 10_000] {
                    try await control(http, base, .DELETE, "/_sim/requests")
                    let fresh = makeClient(http, base)
                    let t0 = ContinuousClock.now
                    let found = try await fresh.statuses(numbers: Array(numbers.prefix(n)))
                    let took = ContinuousClock.now - t0
                    let used = try await requestTotal(http, base)
                    let goal = 1 + (n + 99) / 100
                    print("| \(n) | \(used) | \(goal) \(used <= goal ? "ok" : "MISSED") | \(found.count) | \(took) |")
                }
            }
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            print("benchmark failed: \(error)")
            exit(1)
        }
    }

    /// `#require` for a script: stop with a message when a value is missing.
    static func require<T>(_ value: T?, _ what: String = "value") throws -> T {
        guard let value else { throw BenchError(text: "missing \(what)") }
        return value
    }

}

struct BenchError: Error, CustomStringConvertible { let text: String; var description: String { text } }

try await Bench.run()
