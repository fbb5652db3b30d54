/// Splits a byte stream into lines; very long lines are cut so one line never holds unbounded memory.
struct LineSplitter {
    static let maxLineBytes = 16 * 1024
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(take())
            } else {
                pending.append(byte)
                if pending.count >= Self.maxLineBytes { lines.append(take()) }
            }
        }
        return lines
    }

    /// What is left after the stream closed (a last line without a newline).
    mutating func flush() -> String? { pending.isEmpty ? nil : take() }

    private mutating func take() -> String {
        if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
        defer { pending.removeAll(keepingCapacity: true) }
        return String(decoding: pending, as: UTF8.self)
    }
}
