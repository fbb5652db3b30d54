import AsyncHTTPClient
import Foundation
import Testing
@testable import ServiceNowSimulator

/// One HTTP answer, read fully.
struct Answer {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body parsed with the simulator's own parser, which keeps ints, doubles and booleans apart.
    var json: JSON { (try? JSON.parse(body)) ?? .null }
    var result: JSON { json["result"] ?? .null }
    var results: [JSON] { result.arrayValue ?? [] }
}

/// A simulator started in-process on port 0, and a client to talk to it over real HTTP.
struct Sim {
    let base: String
    let app: SimulatorApplication

    static func with<T: Sendable>(_ configure: (inout SimulatorConfiguration) -> Void = { _ in },
                                  _ body: (Sim) async throws -> T) async throws -> T {
        var config = SimulatorConfiguration()
        config.port = 0
        config.logger.logLevel = .error
        configure(&config)
        let app = try SimulatorApplication(configuration: config)
        return try await app.withRunning { base in try await body(Sim(base: base, app: app)) }
    }

    static let basicSvc = basic("svc.changegate")

    static func basic(_ user: String, _ password: String = "sim-password") -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    @discardableResult
    func call(_ method: String, _ path: String, auth: String? = Sim.basicSvc, json: String? = nil, form: String? = nil,
              contentType: String? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: base + Self.encodeQuery(path))
        request.method = .init(rawValue: method)
        if let auth { request.headers.add(name: "Authorization", value: auth) }
        request.headers.add(name: "Accept", value: "application/json")
        if let json {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(Array(json.utf8))
        } else if let form {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/x-www-form-urlencoded")
            request.body = .bytes(Array(form.utf8))
        }
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                      body: Array(buffer.readableBytesView))
    }

    /// Tests write queries as ServiceNow spells them (`a=1^b=2`); this encodes what a URL cannot carry.
    static func encodeQuery(_ path: String) -> String {
        guard let q = path.firstIndex(of: "?") else { return path }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "+")
        let query = String(path[path.index(after: q)...]).addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        return String(path[...q]) + query
    }

    func get(_ path: String, auth: String? = Sim.basicSvc) async throws -> Answer { try await call("GET", path, auth: auth) }

    /// POST /oauth_token.do with a form body.
    func token(_ form: String) async throws -> Answer { try await call("POST", "/oauth_token.do", auth: nil, form: form) }

    func passwordToken(user: String = "svc.changegate", password: String = "sim-password") async throws -> Answer {
        try await token("grant_type=password&client_id=changegate&client_secret=sim-client-secret&username=\(user)&password=\(password)")
    }

    func bearer(user: String = "svc.changegate") async throws -> String {
        let a = try await passwordToken(user: user)
        return "Bearer " + (a.json["access_token"]?.stringValue ?? "")
    }

    /// Creates a change through the Change API and returns its record.
    func createNormal(_ fields: String = #"{"short_description":"test change"}"#, type: String = "normal",
                      auth: String = Sim.basicSvc) async throws -> JSON {
        let a = try await call("POST", "/api/sn_chg_rest/change/\(type)", auth: auth, json: fields)
        #expect(a.status == 200, "create answered \(a.status): \(a.text)")
        return a.result
    }

    func patch(_ sysID: String, _ body: String, auth: String = Sim.basicSvc) async throws -> Answer {
        try await call("PATCH", "/api/sn_chg_rest/change/\(sysID)", auth: auth, json: body)
    }

    @discardableResult
    func control(_ method: String, _ path: String, _ body: String? = nil) async throws -> Answer {
        try await call(method, "/_sim" + path, auth: nil, json: body)
    }
}

extension JSON {
    /// `field.value` of a Change API record.
    func v(_ field: String) -> JSON? { self[field]?["value"] }
    func s(_ field: String) -> String { v(field)?.stringValue ?? self[field]?.stringValue ?? "" }
    var sysID: String { s("sys_id") }
}

func expectError(_ a: Answer, _ status: Int, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.status == status, "expected \(status), got \(a.status): \(a.text)", sourceLocation: sourceLocation)
    #expect(a.json["error"]?["message"]?.stringValue == message, "\(a.text)", sourceLocation: sourceLocation)
    #expect(a.json["status"]?.stringValue == "failure", sourceLocation: sourceLocation)
}
