import Crypto
import Foundation

extension SimulatorStore {
    /// `POST /api/now/attachment/file`: stores the file on a change. `hash` is the SHA-256 of the content, hex.
    func addAttachment(table: String, tableSysID: String, fileName: String, contentType: String, data: [UInt8],
                       by user: SimulatorUser) throws(APIError) -> Row {
        guard table == "change_request", changeBySysID[tableSysID] != nil else { throw .noRecord }
        guard data.count <= attachmentMaxBytes else {
            throw .badRequest("Failed to create the attachment",
                              "The file is \(data.count) bytes; com.glide.attachment.max_size allows \(attachmentMaxBytes) bytes (\(Self.megabytes(attachmentMaxBytes)) MB)")
        }
        let hash = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let id = insertNew(table: "sys_attachment", [
            "file_name": fileName, "content_type": contentType, "size_bytes": String(data.count), "size_compressed": "",
            "table_name": table, "table_sys_id": tableSysID, "hash": hash,
        ], by: user.userName)
        attachmentData[id] = data
        return extraRow(table: "sys_attachment", sysID: id)!.0
    }

    func deleteAttachment(_ sysID: String) throws(APIError) {
        guard extraRow(table: "sys_attachment", sysID: sysID) != nil else { throw .noRecord }
        deleteRow(table: "sys_attachment", sysID: sysID)
        attachmentData[sysID] = nil
    }

    static func megabytes(_ bytes: Int) -> String {
        let mb = Double(bytes) / Double(1 << 20)
        return mb.rounded() == mb ? String(Int(mb)) : String(format: "%.3f", mb)
    }

    /// The Attachment API's flat record: every value a string, plus `download_link` and the writers' names.
    func attachmentRecord(_ row: Row, baseURL: String) -> JSONObject {
        var out = JSONObject()
        let schema = Schemas.attachment
        for spec in schema.fields { out.append(spec.name, .string(row.value(spec))) }
        out.append("download_link", .string("\(baseURL)/api/now/attachment/\(row.value("sys_id", in: schema))/file"))
        for (field, name) in [("sys_created_by", "created_by_name"), ("sys_updated_by", "updated_by_name")] {
            out.append(name, .string(directory.usersByUserName[row.value(field, in: schema)]?.name ?? row.value(field, in: schema)))
        }
        return out
    }
}
