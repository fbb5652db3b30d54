import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The parts of one running instance, shared by every request handler.
struct SimulatorCore: Sendable {
    let configuration: SimulatorConfiguration
    let directory: Directory
    let store: SimulatorStore
    let tokens: TokenStore
    let faults: FaultInjector
    let recorder: RequestRecorder
    let webhooks = WebhookSender()
    let logger: Logger

    init(configuration: SimulatorConfiguration) {
        self.configuration = configuration
        directory = Directory(configuration: configuration)
        store = SimulatorStore(directory: directory, clock: GlideClock(zoneIdentifier: configuration.displayTimeZone),
                               seed: configuration.seed, allowImplementToClosed: configuration.allowImplementToClosed,
                               attachmentMaxBytes: Int(configuration.attachmentMaxSizeMB * Double(1 << 20)),
                               jobDuration: Double(configuration.jobDuration.components.seconds) + Double(configuration.jobDuration.components.attoseconds) / 1e18)
        tokens = TokenStore(lifetime: configuration.tokenLifetime, refreshLifetime: configuration.refreshTokenLifetime)
        faults = FaultInjector(seed: configuration.seed)
        recorder = RequestRecorder(limit: configuration.requestLogLimit)
        logger = configuration.logger
    }
}

extension SimulatorStore {
    /// Runs `body` on the actor, so a query and the rendering of its rows see the same data.
    func isolated<T: Sendable, E: Error>(_ body: @Sendable (isolated SimulatorStore) throws(E) -> T) throws(E) -> T {
        try body(self)
    }
}

/// Hummingbird responder: the control API, or an API request through faults, routing and the request log.
struct SimulatorResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let core: SimulatorCore

    func respond(to request: Request, context: Context) async throws -> Response {
        let call = try await HTTPCall.read(request)
        if call.path == "/_sim" || call.path.hasPrefix("/_sim/") {
            let reply = await core.control(call)
            if call.method != .get { await core.webhooks.afterWrite(core.store) }
            return reply.response
        }
        let started = Date()
        let (latency, outcome) = await core.faults.decide()
        if latency > 0 { try? await Task.sleep(for: .milliseconds(latency)) }
        var reply: Reply
        var user = ""
        switch outcome {
        case .rateLimited:
            reply = await core.rateLimitedReply()
        case .failure(let status):
            reply = .error(APIError(status: .init(code: status), message: "Service Unavailable",
                                    detail: "The instance could not process the request (fault injected by the simulator)"))
        case .proceed(let malformed):
            (reply, user) = await core.api(call)
            // Queued before the answer leaves, delivered after it: the business rule's executeAsync().
            if call.method != .get { await core.webhooks.afterWrite(core.store) }
            if let malformed { reply = Malform.apply(malformed, to: reply) }
            let delay = await core.faults.faults.responseDelay(for: call.path)
            if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
        }
        await core.recorder.record(
            .init(at: started, method: call.method.rawValue, path: call.path, query: call.rawQuery,
                  status: reply.status.code, user: user,
                  requestID: call.headers[HTTPField.Name("X-Changegate-Request-Id")!] ?? "", bytes: reply.body.count),
            endpoint: RequestRecorder.template(call.path))
        core.logger.info("\(call.method.rawValue) \(call.path)\(call.rawQuery.isEmpty ? "" : "?" + call.rawQuery) → \(reply.status.code) \(user)")
        return reply.response
    }
}

extension SimulatorCore {
    /// Routes an API request. Returns the reply and the user it ran as (for the log).
    func api(_ call: HTTPCall) async -> (Reply, String) {
        if call.path == "/oauth_token.do" {
            return await oauthToken(call)
        }
        let s = call.segments
        guard s.first == "api" else {
            return (.error(APIError(status: .notFound, message: "Not Found", detail: "No such page: \(call.path)")), "")
        }
        let user: SimulatorUser
        do { user = try await authenticate(call) } catch { return (.error(error), "") }
        await store.settleJobs()
        do {
            if s.count >= 3, s[1] == "sn_chg_rest" {
                let versioned = s[2] == "v1"
                let rest = Array(s.dropFirst(versioned ? 3 : 2))
                guard rest.first == "change" else { throw APIError.noResource }
                return (try await changeAPI(call, Array(rest.dropFirst()), user: user), user.userName)
            }
            if s.count >= 3, s[1] == "now" {
                let version = ["v1", "v2"].contains(s[2]) ? s[2] : nil
                let rest = Array(s.dropFirst(version == nil ? 2 : 3))
                if rest.first == "attachment" {
                    return (try await attachmentAPI(call, Array(rest.dropFirst()), user: user), user.userName)
                }
                guard rest.first == "table", rest.count == 2 || rest.count == 3 else { throw APIError.noResource }
                return (try await tableAPI(call, version: version, Array(rest.dropFirst()), user: user), user.userName)
            }
            throw APIError.noResource
        } catch let error as APIError {
            return (.error(error), user.userName)
        } catch {
            return (.error(APIError(status: .internalServerError, message: "Internal error", detail: "\(error)")), user.userName)
        }
    }

    func rateLimitedReply() async -> Reply {
        let f = await faults.faults
        var reply = Reply.error(APIError(status: .tooManyRequests, message: "Rate limit exceeded",
                                         detail: "Rate limit of 100 requests per hour for Table API exceeded"))
        reply.headers.append(("Retry-After", String(f.retryAfter)))
        if f.rateLimitReset {
            let reset = Int(Date().timeIntervalSince1970) + f.retryAfter
            reply.headers += [("X-RateLimit-Limit", "100"), ("X-RateLimit-Reset", String(reset)),
                              ("X-RateLimit-Rule", "b1a2c3d4e5f60718293a4b5c6d7e8f90")]
        }
        return reply
    }
}
