/// Damages an answer the way broken proxies, hibernating instances and cancelled transactions do.
/// The request itself was carried out: only the answer is lost, so a client must re-read before retrying a write.
enum Malform {
    static func apply(_ kind: FaultSet.MalformedKind, to reply: Reply) -> Reply {
        var r = reply
        switch kind {
        case .truncated:
            guard r.body.count > 1 else { return reply }
            r.body = Array(r.body.prefix(r.body.count / 2))
        case .html:
            r.status = .ok
            r.contentType = "text/html;charset=UTF-8"
            r.headers = []
            r.body = Array("""
                <html><head><title>ServiceNow</title></head><body><h1>Your instance is hibernating</h1>\
                <p>Log in to wake it up.</p></body></html>
                """.utf8)
        case .wrongTypes:
            guard case .object(var o)? = try? JSON.parse(r.body) else { return reply }
            if let result = o["result"] {
                switch result {
                case .object: o["result"] = .array([.string("unexpected")])
                case .array(let items): o["result"] = .obj(["unexpected": .int(items.count)])
                default: o["result"] = .int(0)
                }
            }
            if o["access_token"] != nil {
                o["access_token"] = .int(42)
                o["expires_in"] = .string("\(o["expires_in"]?.intValue ?? 0)s")
            }
            if o["error"] != nil { o["error"] = .string("failure") }
            r.body = JSON.object(o).encoded()
        case .errorBody200:
            r.status = .ok
            r.contentType = "application/json;charset=UTF-8"
            r.body = APIError(status: .ok, message: "Transaction cancelled: maximum execution time exceeded",
                              detail: "Check logs for error trace or enable glide.rest.debug property to verify REST request processing").body.encoded()
        }
        return r
    }
}
