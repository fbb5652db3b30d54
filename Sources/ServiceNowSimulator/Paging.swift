import Foundation

/// `sysparm_limit` / `sysparm_offset` and the paging headers (`X-Total-Count`, `Link`).
struct Paging: Sendable {
    let offset: Int
    let limit: Int

    static let defaultLimit = 10_000

    init(_ call: HTTPCall, defaultLimit: Int = Paging.defaultLimit) {
        offset = max(0, call.param("sysparm_offset").flatMap { Int($0) } ?? 0)
        limit = max(1, call.param("sysparm_limit").flatMap { Int($0) } ?? defaultLimit)
    }

    /// `first`, `prev` (offset − limit even on the first page, −1 with limit 1, as observed), `next` (when more
    /// remain) and `last`; other parameters are kept.
    func headers(_ call: HTTPCall, total: Int) -> [(String, String)] {
        var headers: [(String, String)] = []
        if call.param("sysparm_no_count") != "true" { headers.append(("X-Total-Count", String(total))) }
        guard call.param("sysparm_suppress_pagination_header") != "true" else { return headers }
        let kept = call.query.filter { $0.0 != "sysparm_offset" && $0.0 != "sysparm_limit" }
        func link(_ offset: Int, _ rel: String) -> String {
            let params = kept + [("sysparm_limit", String(limit)), ("sysparm_offset", String(offset))]
            let query = params.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
            return "<\(call.baseURL)\(call.path)?\(query)>;rel=\"\(rel)\""
        }
        var links = [link(0, "first"), link(offset - limit, "prev")]
        if offset + limit < total { links.append(link(offset + limit, "next")) }
        links.append(link(total == 0 ? 0 : (total - 1) / limit * limit, "last"))
        headers.append(("Link", links.joined(separator: ",")))
        return headers
    }

    private static let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~,"))

    static func encode(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s }
}

extension HTTPCall {
    /// `sysparm_fields`, split; nil when absent or empty.
    var fields: [String]? {
        guard let text = param("sysparm_fields"), !text.isEmpty else { return nil }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Body of a create or update: `{}` when empty (a real instance accepts that), 400 when not JSON.
    func writeBody() throws(APIError) -> JSONObject {
        body.allSatisfy({ [9, 10, 13, 32].contains($0) }) ? JSONObject() : try jsonObject()
    }
}
