import Foundation

/// Who exists on the instance: users (with roles), OAuth clients, and the approvers asked for changes.
/// Fixed at start; changes only through configuration.
struct Directory: Sendable {
    let users: [SimulatorUser]
    let usersBySysID: [String: SimulatorUser]
    let usersByUserName: [String: SimulatorUser]
    let usersByName: [String: SimulatorUser]
    let clients: [String: SimulatorOAuthClient]
    /// sys_ids of the users asked to approve when a change enters Authorize, in order.
    let approverSysIDs: [String]
    /// `sys_user` rows for the Table API.
    let userRows: [Row]
    let userRowIndex: [String: Int]

    init(configuration: SimulatorConfiguration) {
        var users = configuration.users
        var approverIDs: [String] = []
        for name in configuration.approvers.map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            if let user = users.first(where: { $0.name == name || $0.userName == name }) {
                approverIDs.append(user.sysID)
            } else {
                // An approver named on the command line who is not a seeded user becomes one.
                let userName = name.lowercased().split(separator: " ").joined(separator: ".")
                let user = SimulatorUser(sysID: stableSysID("sys_user:" + name), userName: userName, name: name,
                                         roles: ["itil", "approver_user"])
                users.append(user)
                approverIDs.append(user.sysID)
            }
        }
        self.users = users
        usersBySysID = Dictionary(users.map { ($0.sysID, $0) }, uniquingKeysWith: { a, _ in a })
        usersByUserName = Dictionary(users.map { ($0.userName, $0) }, uniquingKeysWith: { a, _ in a })
        usersByName = Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        clients = Dictionary(configuration.oauthClients.map { ($0.clientID, $0) }, uniquingKeysWith: { a, _ in a })
        approverSysIDs = approverIDs
        userRows = users.map { user in
            let parts = user.name.split(separator: " ", maxSplits: 1).map(String.init)
            return Row(values: [
                "sys_id": user.sysID, "user_name": user.userName, "name": user.name,
                "first_name": parts.first ?? "", "last_name": parts.count > 1 ? parts[1] : "",
                "email": user.email, "roles": user.roles.joined(separator: ","),
                "web_service_access_only": user.userName.hasPrefix("svc.") ? "true" : "false",
                "sys_created_on": "2024-01-01 00:00:00", "sys_updated_on": "2024-01-01 00:00:00",
            ])
        }
        userRowIndex = Dictionary(users.enumerated().map { ($1.sysID, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// A user found by display name ("Alice Approver") or login ("alice.approver").
    func user(named name: String) -> SimulatorUser? { usersByName[name] ?? usersByUserName[name] }
}

/// Role checks as the Change Management API documents them.
extension SimulatorUser {
    private static let readRoles: Set<String> = ["sn_change_read", "itil", "change_manager", "admin"]
    private static let writeRoles: Set<String> = ["itil", "change_manager", "admin", "sn_change_write"]

    var canRead: Bool { !Self.readRoles.isDisjoint(with: roles) || canWrite }
    var canWrite: Bool { !Self.writeRoles.isDisjoint(with: roles) }
    /// May decide approvals on behalf of the approvers (and delete changes, for admin).
    var isChangeManager: Bool { roles.contains("admin") || roles.contains("change_manager") }
    var isAdmin: Bool { roles.contains("admin") }
}
