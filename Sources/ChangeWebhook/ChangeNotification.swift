import Foundation

/// "This change was updated": all a notification says. It is a hint to read the change again, never its state.
public struct ChangeNotification: Sendable, Hashable, CustomStringConvertible {
    public var sysID: String
    public var number: String

    public init(sysID: String, number: String) {
        self.sysID = sysID
        self.number = number
    }

    public var description: String { "\(number) (\(sysID))" }

    /// The body the business rule sends: exactly `{"sys_id": "<32 lowercase hex>", "number": "CHG0030001"}`.
    public static func parse(_ body: [UInt8]) throws(WebhookRejection) -> ChangeNotification {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw .malformed("the body is not a JSON object")
        }
        guard Set(object.keys) == ["sys_id", "number"] else {
            throw .malformed("the body must have exactly the keys sys_id and number")
        }
        guard let sysID = object["sys_id"] as? String, isSysID(sysID) else {
            throw .malformed("sys_id must be 32 lowercase hex digits")
        }
        guard let number = object["number"] as? String, isNumber(number) else {
            throw .malformed("number must be 1 to 40 letters and digits, such as CHG0030001")
        }
        return ChangeNotification(sysID: sysID, number: number)
    }

    /// The body a sender writes (the simulator, tests); the same shape `parse` accepts.
    public var body: [UInt8] { Array(#"{"sys_id":"\#(sysID)","number":"\#(number)"}"#.utf8) }

    static func isSysID(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Letters and digits only, so a number is safe in logs and in the status query it leads to.
    static func isNumber(_ s: String) -> Bool {
        (1...40).contains(s.utf8.count) && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) }
    }
}
