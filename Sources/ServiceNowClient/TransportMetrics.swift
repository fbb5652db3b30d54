import CoreMetrics

/// Counts every HTTP attempt to ServiceNow through swift-metrics: requests, errors and 429s by connection and
/// call, and a latency histogram. With no metrics backend bootstrapped these are no-ops.
struct TransportMetrics: Sendable {
    let connection: String
    let factory: any MetricsFactory

    init(connection: String, factory: (any MetricsFactory)?) {
        self.connection = connection
        self.factory = factory ?? MetricsSystem.factory
    }

    func record(_ request: APIRequest, outcome: AttemptOutcome, duration: Duration) {
        let dimensions = [("connection", connection), ("call", Self.call(request))]
        Counter(label: "changegate_servicenow_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "changegate_servicenow_request_duration_seconds", dimensions: dimensions, factory: factory)
            .recordNanoseconds(duration.totalNanoseconds)
        guard let kind = Self.errorKind(outcome) else { return }
        if kind == "rate_limited" {
            Counter(label: "changegate_servicenow_rate_limited_total", dimensions: dimensions, factory: factory).increment()
        }
        Counter(label: "changegate_servicenow_errors_total", dimensions: dimensions + [("kind", kind)], factory: factory).increment()
    }

    /// `nil` for a usable answer; otherwise a short, fixed word (label values must stay few).
    static func errorKind(_ outcome: AttemptOutcome) -> String? {
        switch outcome {
        case .answered(let r):
            switch r.status {
            case 429: "rate_limited"
            case 401, 403: "auth"
            case 500...: "server"
            case 400...: "client"
            default: nil
            }
        case .notSent: "connect"
        case .tlsFailure: "tls"
        case .lost: "transport"
        case .timedOut: "timeout"
        case .cancelled: nil
        }
    }

    /// The call as a template: method and path with record ids replaced, so each endpoint is one series.
    static func call(_ request: APIRequest) -> String {
        let segments: [String] = request.path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            let text = String(segment)
            return text.count == 32 && text.allSatisfy(\.isHexDigit) ? "{sys_id}" : text
        }
        return "\(request.method.rawValue) \(segments.joined(separator: "/"))"
    }
}

extension Duration {
    var totalNanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
