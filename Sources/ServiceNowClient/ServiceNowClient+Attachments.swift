import Crypto
import Foundation
import ServiceNowModel

// Evidence on the change: files attached through the Attachment API.
extension ServiceNowClient {
    static let attachmentAPI = "/api/now/attachment"
    /// Uploads tried before giving up, each after checking that the previous one did not land.
    static let attachAttempts = 3

    /// Attaches `data` to the change (`POST /api/now/attachment/file`, the raw file as body). An upload whose answer
    /// is lost may have been stored: the change's attachments are listed before trying again, so the file is never
    /// attached twice. A file above the instance's `com.glide.attachment.max_size` is refused (`badRequest`).
    public func attach(changeSysID: String, fileName: String, contentType: String, data: Data) async throws(ServiceNowError) -> AttachmentRecord {
        guard isSysIDText(changeSysID) else { throw .notFound(connection: name, what: "change request with sys_id \(changeSysID)") }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let request = APIRequest(method: .POST, path: "\(Self.attachmentAPI)/file",
                                 query: [("table_name", "change_request"), ("table_sys_id", changeSysID), ("file_name", fileName)],
                                 data: data, contentType: contentType, kind: .write, operation: "attach \(fileName) to change \(changeSysID)")
        var lastReason = ""
        for attempt in 1...Self.attachAttempts {
            do {
                return try await send(request) { r throws(DecodingProblem) in
                    guard let first = try RecordDecoding.records(in: try Self.json(r)).first else { throw DecodingProblem(reason: "empty result") }
                    return try RecordDecoding.attachment(first)
                }
            } catch .ambiguousWrite(_, _, let reason) {
                lastReason = reason
                let landed = try await attachments(changeSysID: changeSysID).first { a in
                    a.fileName == fileName && a.sizeBytes == data.count && (a.hash.isEmpty || a.hash.lowercased() == digest)
                }
                if let landed { return landed }
                logger.debug("servicenow attachment upload lost; not stored, trying again", metadata: ["attempt": "\(attempt)", "reason": "\(reason)"])
            }
        }
        throw .serverError(connection: name, status: 500,
                           message: "\(fileName) was not stored on change \(changeSysID) after \(Self.attachAttempts) uploads (\(lastReason))")
    }

    /// The change's attachments (`GET /api/now/attachment?sysparm_query=table_sys_id=…`), oldest first.
    public func attachments(changeSysID: String) async throws(ServiceNowError) -> [AttachmentRecord] {
        guard isSysIDText(changeSysID) else { return [] }
        var out: [AttachmentRecord] = []
        do {
            try await pageThrough(path: Self.attachmentAPI, query: "table_name=change_request^table_sys_id=\(changeSysID)^ORDERBYsys_created_on",
                                  pageSize: Self.searchPageSize, extra: [], operation: "attachments of change \(changeSysID)",
                                  decode: RecordDecoding.attachment) { page in
                out += page
                return false
            }
        } catch .notFound {
            return []
        }
        return out
    }

    /// An attachment's content (`GET /api/now/attachment/{sys_id}/file`).
    public func attachmentContent(sysID: String) async throws(ServiceNowError) -> Data {
        let request = APIRequest(method: .GET, path: "\(Self.attachmentAPI)/\(Transport.escape(sysID))/file", kind: .read,
                                 operation: "attachment \(sysID)")
        return try await send(request) { r throws(DecodingProblem) in r.body }
    }
}
