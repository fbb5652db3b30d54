import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing

@testable import ServiceNowClient

/// Connection errors read as sentences for operators: the connection, what happened, where, what to check.
@Suite struct ErrorWordingTests {
    @Test func refusedConnectionNamesTheAddressWithoutLibraryWording() async throws {
        // Nothing listens on port 1 of loopback: refused at once.
        let config = ConnectionConfiguration(name: "default", baseURL: "http://127.0.0.1:1", credentials: .basic(username: "u", password: Secret("p")),
                                             requestTimeout: .seconds(10), retry: RetryPolicy(maxAttempts: 1))
        let http = try ServiceNowClient.makeHTTPClient(for: [config], environment: [:])
        let client = ServiceNowClient(configuration: config, httpClient: http, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        var message = ""
        do {
            _ = try await client.change(sysID: String(repeating: "a", count: 32))
            Issue.record("a request to a closed port succeeded")
        } catch {
            message = error.description
        }
        try await http.shutdown()
        #expect(message.hasPrefix("ServiceNow connection 'default': connection refused by 127.0.0.1:1. Check "), "\(message)")
        #expect(!message.contains("errno") && !message.contains("(error set)") && !message.contains("))"), "\(message)")
    }

    @Test func errnoCodesInPlainWords() {
        #expect(ConnectionErrorText.describe(errno: ECONNREFUSED, target: "h:1") == "connection refused by h:1")
        #expect(ConnectionErrorText.describe(errno: EHOSTUNREACH, target: "h:1") == "no route to h:1")
        let io = IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)")
        #expect(ConnectionErrorText.describe(io, target: "h:443") == "the connection to h:443 was reset")
    }

    @Test func metricsCallLabelReplacesRecordIDs() {
        let request = APIRequest(method: .GET, path: "/api/sn_chg_rest/change/\(String(repeating: "0a", count: 16))/nextstates",
                                 kind: .read, operation: "read")
        #expect(TransportMetrics.call(request) == "GET /api/sn_chg_rest/change/{sys_id}/nextstates")
    }
}
