import ServiceNowClient

extension Diagnostics {
    /// One check per distinct configured CI (`cmdb_ci` of `[projects.X]` and `[projects.X.environments.Y]`): it must
    /// name exactly one configuration item, by sys_id or exact name. `names` are (config key, value) pairs; keys
    /// sharing a value are checked once and named together.
    public static func checkConfigurationItems(_ names: [(key: String, value: String)], connection: String,
                                               client: ServiceNowClient) async -> [DiagnosticCheck] {
        var keysByValue: [String: [String]] = [:]
        for (key, value) in names { keysByValue[value.trimmingCharacters(in: .whitespaces), default: []].append(key) }
        var checks: [DiagnosticCheck] = []
        for (value, keys) in keysByValue.sorted(by: { $0.key < $1.key }) {
            let what = "\(connection) CI \"\(value)\""
            let used = keys.sorted().joined(separator: ", ")
            do throws(ServiceNowError) {
                if let ci = try await client.configurationItem(value) {
                    checks.append(DiagnosticCheck(what, .ok, "found \(ci.name) (sys_id \(ci.sysID)), used by \(used)"))
                } else {
                    checks.append(DiagnosticCheck(what, .fail, "no configuration item (cmdb_ci) has the sys_id or name \"\(value)\" (\(used))",
                                                  fix: "set \(used) to the exact name or sys_id of a CI in the CMDB, or ask the CMDB owner to create it"))
                }
            } catch {
                let fix: String = switch error {
                case .forbidden: "give the connection's user read access to cmdb_ci (role itil, or a read ACL on cmdb_ci)"
                case .badRequest: "name the CI by its sys_id in \(used)"
                default: "see the message; run `changegate doctor` again when the instance answers"
                }
                checks.append(DiagnosticCheck(what, .fail, error.description, fix: fix))
            }
        }
        return checks
    }
}

extension ServiceNowProbe {
    /// The CI checks of this connection, for the config keys that use it.
    mutating func checkConfigurationItems(_ names: [(key: String, value: String)]) async {
        checks += await Diagnostics.checkConfigurationItems(names, connection: name, client: client)
    }
}
