import Foundation
import HTTPTypes
import Hummingbird

/// One request, read fully, with the parts the handlers need.
struct HTTPCall: Sendable {
    let method: HTTPRequest.Method
    let path: String
    /// Path segments after the leading slash, percent-decoded.
    let segments: [String]
    let rawQuery: String
    let query: [(String, String)]
    let headers: HTTPFields
    let body: [UInt8]
    /// `http://host:port` as the caller addressed us, for `Link` headers and reference links.
    let baseURL: String

    func param(_ name: String) -> String? { query.first(where: { $0.0 == name })?.1 }

    var contentType: String { headers[.contentType]?.lowercased() ?? "" }

    /// The body as a JSON object, or the 400 a real instance answers for a bad payload.
    func jsonObject() throws(APIError) -> JSONObject {
        if !contentType.isEmpty, !contentType.contains("json") {
            throw APIError(status: .unsupportedMediaType, message: "Unsupported Media Type",
                           detail: "Content-Type must be application/json, not \(contentType)")
        }
        guard !body.isEmpty else { throw .invalidJSON }
        guard case .object(let o)? = try? JSON.parse(body) else { throw .invalidJSON }
        return o
    }

    /// Body for the control API: empty means `{}`.
    func controlObject() throws(ControlError) -> JSONObject {
        if body.allSatisfy({ [9, 10, 13, 32].contains($0) }) { return JSONObject() }
        do {
            guard case .object(let o) = try JSON.parse(body) else { throw ControlError(.badRequest, "body must be a JSON object") }
            return o
        } catch let e as JSONParseError {
            throw ControlError(.badRequest, e.description)
        } catch let e as ControlError {
            throw e
        } catch {
            throw ControlError(.badRequest, "\(error)")
        }
    }

    static func read(_ request: Request, maxBody: Int = 16 << 20) async throws -> HTTPCall {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBody)
        let rawQuery = request.uri.query ?? ""
        let host = request.head.authority ?? "127.0.0.1"
        let path = request.uri.path
        return HTTPCall(
            method: request.method, path: path,
            segments: path.split(separator: "/").map { decodeComponent(String($0)) },
            rawQuery: rawQuery, query: parseForm(rawQuery), headers: request.headers,
            body: Array(buffer.readableBytesView), baseURL: "http://\(host)")
    }

    /// `a=1&b=x+y%20z` → pairs; `+` is a space, as form encoding and servlet containers have it.
    static func parseForm(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decodeComponent(String(parts[0]).replacingOccurrences(of: "+", with: " "))
            let value = parts.count > 1 ? decodeComponent(String(parts[1]).replacingOccurrences(of: "+", with: " ")) : ""
            return (key, value)
        }
    }

    static func decodeComponent(_ s: String) -> String { s.removingPercentEncoding ?? s }
}

/// An answer before it becomes a Hummingbird `Response`.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    var contentType: String? = "application/json;charset=UTF-8"

    static func json(_ value: JSON, status: HTTPResponse.Status = .ok) -> Reply {
        Reply(status: status, body: value.encoded())
    }

    static func error(_ e: APIError) -> Reply {
        var r = Reply.json(e.body, status: e.status)
        r.headers = e.headers
        return r
    }

    static func control(_ e: ControlError) -> Reply {
        .json(.obj(["error": .string(e.message)]), status: e.status)
    }

    static func noContent() -> Reply { Reply(status: .noContent, contentType: nil) }

    var response: Response {
        var fields = HTTPFields()
        if let contentType { fields[.contentType] = contentType }
        fields[.server] = "ServiceNow"
        for (name, value) in headers {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
