import Foundation

/// What goes wrong on purpose, set with `PUT /_sim/faults`. Applies to every request outside `/_sim/`.
struct FaultSet: Sendable {
    enum MalformedKind: String, Sendable, CaseIterable {
        /// The JSON body cut in half.
        case truncated
        /// An HTML page with status 200, as a hibernating or SSO-redirected instance answers.
        case html
        /// Well-formed JSON of the wrong shape: `result` object ↔ array; OAuth fields of the wrong type.
        case wrongTypes = "wrong_types"
        /// The error envelope with status 200 (a transaction cancelled mid-way).
        case errorBody200 = "error_body_200"
    }

    var latencyMs = 0
    var errorRate = 0.0
    var errorStatus = 503
    /// Every Nth request answers 429 (0: never).
    var rateLimitEvery = 0
    var retryAfter = 1
    /// Also send X-RateLimit-Limit, X-RateLimit-Reset and X-RateLimit-Rule.
    var rateLimitReset = false
    var malformedRate = 0.0
    var malformedKind = MalformedKind.truncated
    var revokeTokensEvery: Double?
    var seed: UInt64?
    /// Answer this much later *after* the request was processed: the write happened, the caller does not know yet
    /// (the window a crash test needs). Only for paths starting with one of `responseDelayPaths` (all when empty).
    var responseDelayMs = 0
    var responseDelayPaths: [String] = []
    /// Attachment uploads fail with HTTP 500: before storing (`fail`) or after (`fail_after_store`, the answer is lost).
    enum AttachmentFault: String, Sendable, CaseIterable {
        case fail
        case failAfterStore = "fail_after_store"
    }
    var attachmentFault: AttachmentFault?
    /// How many uploads fail (0: all of them).
    var attachmentFaultTimes = 0

    func responseDelay(for path: String) -> Int {
        guard responseDelayMs > 0 else { return 0 }
        return responseDelayPaths.isEmpty || responseDelayPaths.contains(where: path.hasPrefix) ? responseDelayMs : 0
    }

    init() {}

    init(json: JSONObject) throws(ControlError) {
        func number(_ key: String) -> Double? { json[key]?.doubleValue }
        if let v = number("latency_ms") { latencyMs = max(0, Int(v)) }
        if let v = number("error_rate") { errorRate = min(max(v, 0), 1) }
        if let v = number("error_status") {
            guard (400...599).contains(Int(v)) else { throw ControlError(.badRequest, "error_status must be 400...599") }
            errorStatus = Int(v)
        }
        if let v = number("rate_limit_every") { rateLimitEvery = max(0, Int(v)) }
        if let v = number("retry_after") { retryAfter = max(0, Int(v)) }
        if let v = json["rate_limit_reset"]?.boolValue { rateLimitReset = v }
        if let v = number("malformed_rate") { malformedRate = min(max(v, 0), 1) }
        if let kind = json["malformed_kind"] {
            guard let k = kind.stringValue.flatMap(MalformedKind.init(rawValue:)) else {
                throw ControlError(.badRequest, "malformed_kind must be one of " + MalformedKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            malformedKind = k
        }
        revokeTokensEvery = number("revoke_tokens_every_s")
        if let v = number("seed") { seed = UInt64(max(0, v)) }
        if let v = number("response_delay_ms") { responseDelayMs = max(0, Int(v)) }
        if let paths = json["response_delay_paths"] {
            guard let list = paths.arrayValue?.compactMap(\.stringValue) else {
                throw ControlError(.badRequest, "response_delay_paths must be an array of path prefixes")
            }
            responseDelayPaths = list
        }
        if let f = json["attachment_fault"] {
            guard let kind = f.stringValue.flatMap(AttachmentFault.init(rawValue:)) else {
                throw ControlError(.badRequest, "attachment_fault must be one of " + AttachmentFault.allCases.map(\.rawValue).joined(separator: ", "))
            }
            attachmentFault = kind
        }
        if let v = number("attachment_fault_times") { attachmentFaultTimes = max(0, Int(v)) }
        let known: Set = ["attachment_fault", "attachment_fault_times", "response_delay_ms", "response_delay_paths", "latency_ms", "error_rate", "error_status", "rate_limit_every", "retry_after", "rate_limit_reset",
                          "malformed_rate", "malformed_kind", "revoke_tokens_every_s", "seed"]
        if let unknown = json.keys.first(where: { !known.contains($0) }) {
            throw ControlError(.badRequest, "unknown fault \"\(unknown)\"; known: " + known.sorted().joined(separator: ", "))
        }
    }

    var json: JSON {
        .obj(["latency_ms": .int(latencyMs), "error_rate": .double(errorRate), "error_status": .int(errorStatus),
              "rate_limit_every": .int(rateLimitEvery), "retry_after": .int(retryAfter), "rate_limit_reset": .bool(rateLimitReset),
              "malformed_rate": .double(malformedRate), "malformed_kind": .string(malformedKind.rawValue),
              "revoke_tokens_every_s": revokeTokensEvery.map(JSON.double) ?? .null,
              "response_delay_ms": .int(responseDelayMs), "response_delay_paths": .array(responseDelayPaths.map(JSON.string)),
              "attachment_fault": attachmentFault.map { .string($0.rawValue) } ?? .null, "attachment_fault_times": .int(attachmentFaultTimes)])
    }
}

/// Decides, request by request, which fault applies. Decisions come from a seeded generator in request
/// order, so a test that sends the same requests sees the same faults.
actor FaultInjector {
    enum Outcome: Sendable {
        case proceed(malformed: FaultSet.MalformedKind?)
        case rateLimited
        case failure(status: Int)
    }

    private(set) var faults = FaultSet()
    private var rng: SplitMix64
    private var count = 0
    private var attachmentFaults = 0
    private let baseSeed: UInt64

    init(seed: UInt64) {
        baseSeed = seed
        rng = SplitMix64(seed: seed)
    }

    func set(_ faults: FaultSet) {
        self.faults = faults
        count = 0
        attachmentFaults = 0
        rng = SplitMix64(seed: faults.seed ?? baseSeed)
    }

    /// The attachment fault for this upload, counting it against `attachment_fault_times`.
    func attachmentFault() -> FaultSet.AttachmentFault? {
        guard let f = faults.attachmentFault else { return nil }
        if faults.attachmentFaultTimes > 0, attachmentFaults >= faults.attachmentFaultTimes { return nil }
        attachmentFaults += 1
        return f
    }

    func decide() -> (latencyMs: Int, outcome: Outcome) {
        count += 1
        let f = faults
        if f.rateLimitEvery > 0, count % f.rateLimitEvery == 0 { return (f.latencyMs, .rateLimited) }
        if f.errorRate > 0, rng.unit() < f.errorRate { return (f.latencyMs, .failure(status: f.errorStatus)) }
        if f.malformedRate > 0, rng.unit() < f.malformedRate { return (f.latencyMs, .proceed(malformed: f.malformedKind)) }
        return (f.latencyMs, .proceed(malformed: nil))
    }
}
