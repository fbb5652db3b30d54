import Foundation
import Testing

@testable import Systemd

@Suite struct MessageIDTests {
    static let catalogPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("systemd/changegate.catalog").path

    @Test func idsAreUniqueThirtyTwoLowercaseHexDigits() {
        let ids = MessageID.all.map(\.id.hex)
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(MessageID(id)?.hex == id)
            #expect(id.utf8.count == 32)
        }
    }

    @Test func parsingAcceptsUUIDFormAndRejectsGarbage() {
        #expect(MessageID("07BA8A8C-DA28-48C6-A18A-382E962AA532") == MessageID.taskStateChanged)
        #expect(MessageID("07ba8a8cda2848c6a18a382e962aa53") == nil)
        #expect(MessageID("zzba8a8cda2848c6a18a382e962aa532") == nil)
        #expect("\(MessageID.changeApproved)" == "0fdf3b69ec7d401cb5c67c4efe326e5f")
    }

    @Test func catalogExplainsEveryIdExactlyOnce() throws {
        let catalog = try String(contentsOfFile: Self.catalogPath, encoding: .utf8)
        let headers = catalog.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(Set(headers) == Set(MessageID.all.map(\.id.hex)))
        #expect(headers.count == MessageID.all.count)
        #expect(catalog.components(separatedBy: "Defined-By: changegate").count - 1 == MessageID.all.count)
    }

    /// Compiles the catalog with journalctl into a scratch root and reads one entry back, so a syntax error in
    /// the catalog shows up here rather than at `journalctl --update-catalog` on a server.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl"), "journalctl not installed"))
    func journalctlCompilesTheCatalog() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cg-catalog-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("usr/lib/systemd/catalog")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.catalogPath, toPath: dir.appendingPathComponent("changegate.catalog").path)
        let update = try runCommand(["/usr/bin/journalctl", "--root=\(root.path)", "--update-catalog"])
        #expect(update.status == 0, "\(update.stderr)")
        let list = try runCommand(["/usr/bin/journalctl", "--root=\(root.path)", "--list-catalog"])
        for (_, id) in MessageID.all {
            #expect(list.stdout.contains("\(id.hex) changegate: "), "\(id.hex) missing from:\n\(list.stdout)")
        }
    }
}
