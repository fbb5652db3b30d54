import Foundation

/// `POST /oauth_token.do` and the credentials API calls carry.
extension SimulatorCore {
    private static let oauthFailure = Reply.json(
        .obj(["error_description": .string("access_denied"), "error": .string("server_error")]), status: .unauthorized)

    /// Password, refresh_token and client_credentials grants. Whatever fails (a JSON body, a bad secret, an
    /// unknown user, a disabled grant) answers the same 401, as a real instance does.
    func oauthToken(_ call: HTTPCall) async -> (Reply, String) {
        guard call.method == .post, call.contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return (Self.oauthFailure, "")
        }
        let form = Dictionary(HTTPCall.parseForm(String(decoding: call.body, as: UTF8.self)), uniquingKeysWith: { a, _ in a })
        guard let clientID = form["client_id"], let client = directory.clients[clientID],
              form["client_secret"] == client.clientSecret else { return (Self.oauthFailure, form["username"] ?? "") }
        let userName: String
        var withRefresh = true
        switch form["grant_type"] {
        case "password":
            guard let name = form["username"], let user = directory.usersByUserName[name], form["password"] == user.password else {
                return (Self.oauthFailure, form["username"] ?? "")
            }
            userName = user.userName
        case "refresh_token":
            guard let token = form["refresh_token"], let name = await tokens.refreshGrant(token, clientID: clientID) else {
                return (Self.oauthFailure, "")
            }
            userName = name
        case "client_credentials":
            guard configuration.clientCredentialsEnabled, directory.usersByUserName[client.clientCredentialsUser] != nil else {
                return (Self.oauthFailure, "")
            }
            userName = client.clientCredentialsUser
            withRefresh = false
        default:
            return (Self.oauthFailure, "")
        }
        let issued = await tokens.issue(userName: userName, clientID: clientID, withRefreshToken: withRefresh)
        var body = JSONObject([("access_token", .string(issued.accessToken))])
        if let refresh = issued.refreshToken { body.append("refresh_token", .string(refresh)) }
        body.append("scope", .string("useraccount"))
        body.append("token_type", .string("Bearer"))
        body.append("expires_in", .int(issued.expiresIn))
        return (.json(.object(body)), userName)
    }

    /// Bearer token or HTTP Basic; anything else is the 401 "User Not Authenticated".
    func authenticate(_ call: HTTPCall) async throws(APIError) -> SimulatorUser {
        guard let header = call.headers[.authorization] else { throw .notAuthenticated }
        if header.lowercased().hasPrefix("bearer ") {
            let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            guard let name = await tokens.user(forAccessToken: token), let user = directory.usersByUserName[name] else {
                throw .notAuthenticated
            }
            return user
        }
        if header.lowercased().hasPrefix("basic ") {
            guard let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                  let user = directory.usersByUserName[String(text[..<colon])],
                  user.password == String(text[text.index(after: colon)...]) else { throw .notAuthenticated }
            return user
        }
        throw .notAuthenticated
    }
}
