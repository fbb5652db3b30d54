import HTTPTypes

/// An answer in ServiceNow's error envelope: `{"error":{"message","detail"},"status":"failure"}`.
struct APIError: Error, Sendable {
    let status: HTTPResponse.Status
    let message: String
    let detail: String?
    var headers: [(String, String)] = []

    var body: JSON {
        .obj(["error": .obj(["message": .string(message), "detail": detail.map(JSON.string) ?? .null]),
              "status": .string("failure")])
    }

    static let notAuthenticated = APIError(status: .unauthorized, message: "User Not Authenticated",
                                           detail: "Required to provide Auth information")
    static let noRecord = APIError(status: .notFound, message: "No Record found",
                                   detail: "Record doesn't exist or ACL restricts the record retrieval")
    static let noResource = APIError(status: .badRequest, message: "Requested URI does not represent any resource", detail: nil)

    static func acl(_ operation: String) -> APIError {
        APIError(status: .forbidden, message: "Operation Failed", detail: "ACL Exception \(operation) Failed due to security constraints")
    }

    static func operationFailed(_ detail: String) -> APIError {
        APIError(status: .forbidden, message: "Operation Failed", detail: detail)
    }

    static func badRequest(_ message: String, _ detail: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, detail: detail)
    }

    static let invalidJSON = APIError(status: .badRequest, message: "Exception while reading request",
                                      detail: "The payload is not valid JSON.")
}

/// A failed control-API call (`/_sim/...`): plain `{"error": "..."}`.
struct ControlError: Error, Sendable {
    let status: HTTPResponse.Status
    let message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}
