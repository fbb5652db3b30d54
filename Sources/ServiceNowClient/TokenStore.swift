import Foundation

/// An OAuth access token as the client keeps it.
struct AccessToken: Sendable {
    var value: Secret
    var refreshToken: Secret?
    /// Renew from this moment on (80 % of the lifetime, or 60 s before expiry, whichever is later).
    var renewAt: ContinuousClock.Instant
    var expiresAt: ContinuousClock.Instant
    /// The refresh token we tried was refused: forget it (the original grant issued this token).
    var refreshRejected = false

    init(value: Secret, refreshToken: Secret?, lifetime: Duration, obtainedAt: ContinuousClock.Instant = .now) {
        self.value = value
        self.refreshToken = refreshToken
        let margin = min(lifetime * 0.2, .seconds(60))
        renewAt = obtainedAt + lifetime - margin
        expiresAt = obtainedAt + lifetime
    }
}

/// Caches one connection's access token and makes sure concurrent callers share one token request.
///
/// Without unstructured tasks, single-flight works like this: the first caller that finds no usable token
/// fetches it itself; callers arriving meanwhile park on a continuation and get the same result. If the
/// fetching caller is cancelled, the parked callers are woken to try again themselves.
actor TokenStore {
    /// Fetches a token: `refresh` is the refresh token to try first, if any.
    typealias Fetch = @Sendable (_ refresh: Secret?) async throws(ServiceNowError) -> AccessToken

    private var current: AccessToken?
    private var refreshToken: Secret?
    private var fetching = false
    private var waiters: [CheckedContinuation<Result<Secret, ServiceNowError>?, Never>] = []
    /// Token requests made (for tests and diagnostics).
    private(set) var fetchCount = 0

    init(initialRefreshToken: Secret? = nil) {
        self.refreshToken = initialRefreshToken
    }

    /// A valid access token, from the cache or fetched with `fetch` (at most one fetch at a time).
    func token(fetch: Fetch) async throws(ServiceNowError) -> Secret {
        while true {
            if let t = current, ContinuousClock.now < t.renewAt { return t.value }
            if fetching {
                let outcome = await withCheckedContinuation { waiters.append($0) }
                switch outcome {
                case .success(let s)?: return s
                case .failure(let e)?: throw e
                case nil: continue
                }
            }
            fetching = true
            fetchCount += 1
            let result: Result<Secret, ServiceNowError>
            do {
                let fresh = try await fetch(refreshToken)
                current = fresh
                if let r = fresh.refreshToken { refreshToken = r } else if fresh.refreshRejected { refreshToken = nil }
                result = .success(fresh.value)
            } catch {
                // A token past its renewal point but not yet expired is still good while the instance is unreachable.
                if error.isTransient, let t = current, ContinuousClock.now < t.expiresAt {
                    result = .success(t.value)
                } else {
                    result = .failure(error)
                }
            }
            fetching = false
            let parked = waiters
            waiters = []
            let cancelled: Bool = if case .failure(.cancelled) = result { true } else { false }
            for w in parked { w.resume(returning: cancelled ? nil : result) }
            return try result.get()
        }
    }

    /// Keeps a token fetched outside `token(fetch:)` (a diagnostic probe), as if fetched here.
    func adopt(_ token: AccessToken) {
        fetchCount += 1
        current = token
        if let r = token.refreshToken { refreshToken = r }
    }

    /// Forgets `token` after the API refused it, unless a newer token has replaced it already.
    func invalidate(_ token: Secret) {
        if current?.value == token { current = nil }
    }
}

extension TokenStore {
    /// The cached access token, if any (tests check it never reaches logs).
    var cachedToken: Secret? { current?.value }
}
