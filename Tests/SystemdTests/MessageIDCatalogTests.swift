import Foundation
import Testing

@testable import Daemon
import Systemd

/// changegate's message ids (Sources/Daemon/MessageIDs.swift) against the journal catalog and its documentation.
@Suite struct MessageIDCatalogTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let catalogPath = root.appendingPathComponent("systemd/changegate.catalog").path

    static func read(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// `MessageID(known:)` checks nothing; this is where every id is checked, once.
    @Test func everyIdIsThirtyTwoLowercaseHexDigitsAndUnique() {
        for (name, id) in MessageID.all {
            #expect(MessageID(id.hex)?.hex == id.hex, "\(name): \(id.hex) is not 32 lowercase hex digits")
        }
        #expect(Set(MessageID.all.map(\.id)).count == MessageID.all.count, "an id is used twice")
        #expect(Set(MessageID.all.map(\.name)).count == MessageID.all.count, "a name is listed twice")
    }

    /// `all` is written by hand: an id added to the extension but not to `all` would escape every check here.
    @Test func allListsEveryIdOfTheCatalogueSource() throws {
        let source = try Self.read("Sources/Daemon/MessageIDs.swift")
        let pattern = try Regex(#"static let (\w+) = MessageID\(known: "([^"]*)"\)"#)
        let declared = source.matches(of: pattern).map { (String($0.output[1].substring!), String($0.output[2].substring!)) }
        #expect(!declared.isEmpty)
        #expect(declared.map(\.0) == MessageID.all.map(\.name), "names and order of `all`")
        #expect(declared.map(\.1) == MessageID.all.map(\.id.hex))
    }

    @Test func catalogExplainsEveryIdExactlyOnce() throws {
        let catalog = try String(contentsOfFile: Self.catalogPath, encoding: .utf8)
        let headers = catalog.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(headers == MessageID.all.map(\.id.hex), "catalog entries, in catalog order")
        #expect(catalog.components(separatedBy: "Defined-By: changegate").count - 1 == MessageID.all.count)
    }

    /// docs/journal-catalog.md lists each id with its Swift name, in the same order.
    @Test func documentationTableListsEveryIdWithItsName() throws {
        let docs = try Self.read("docs/journal-catalog.md")
        let row = try Regex(#"^\| `([0-9a-f]{32})` +\| `(\w+)` +\|"#)
        let rows = docs.split(separator: "\n").compactMap { line in
            line.firstMatch(of: row).map { (String($0.output[2].substring!), String($0.output[1].substring!)) }
        }
        #expect(rows.map(\.0) == MessageID.all.map(\.name))
        #expect(rows.map(\.1) == MessageID.all.map(\.id.hex))
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
