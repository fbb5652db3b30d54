import ServiceNowClient
import ServiceNowModel
import Synchronization

/// Configuration items by connection and configured name (or sys_id), resolved once per daemon run:
/// CIs are renamed rarely, and every created change needs them.
final class ConfigurationItemCache: Sendable {
    private let known = Mutex<[String: ConfigurationItem]>([:])

    func resolve(_ nameOrSysID: String, on service: any ChangeService) async throws(ServiceNowError) -> ConfigurationItem? {
        let key = "\(service.name)\u{1F}\(nameOrSysID)"
        if let hit = known.withLock({ $0[key] }) { return hit }
        guard let ci = try await service.configurationItem(nameOrSysID) else { return nil }  // not cached: it may be created
        known.withLock { $0[key] = ci }
        return ci
    }
}
