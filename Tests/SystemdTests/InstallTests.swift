import Foundation
import Testing

import Daemon
@testable import Systemd

// Nested in SystemdBoxTests, whose .serialized trait then covers it: one box at a time.
extension SystemdBoxTests {
    /// `make install` (Makefile at the repository root), with BINARY= so no release build is made here.
    @Suite(.serialized) struct InstallTests {
        static let make = "/usr/bin/make"

        func install(prefix: String) throws -> String {
            try BuiltBinaries.require()
            let destination = FileManager.default.temporaryDirectory.appendingPathComponent("cg-install-\(UUID().uuidString)").path
            let result = try runCommand([Self.make, "--no-print-directory", "-C", SystemdBox.repository.path, "install",
                                         "DESTDIR=\(destination)", "PREFIX=\(prefix)", "BINARY=\(BuiltBinaries.changegate)"])
            guard result.succeeded else {
                try? FileManager.default.removeItem(atPath: destination)
                throw CommandError(command: ["make", "install"], result: result)
            }
            return destination
        }

        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: make), "make is not installed"))
        func installsEverythingUnderDestdirAndPrefix() throws {
            let root = try install(prefix: "/usr")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let repository = SystemdBox.repository.path
            let expected: [(String, Int, String?)] = [
                ("/usr/bin/changegate", 0o755, nil),
                ("/etc/systemd/system/changegate.service", 0o644, nil),
                ("/usr/lib/sysusers.d/changegate.conf", 0o644, "systemd/changegate.sysusers"),
                ("/usr/lib/tmpfiles.d/changegate.conf", 0o644, "systemd/changegate.tmpfiles"),
                ("/usr/lib/systemd/catalog/changegate.catalog", 0o644, "systemd/changegate.catalog"),
                // Readable by the service user (the daemon is not root); no secrets in it.
                ("/etc/changegate/changegate.toml", 0o644, "etc/changegate.toml"),
                ("/etc/changegate/credentials", 0o700, nil),
                ("/usr/share/doc/changegate/README.md", 0o644, "README.md"),
                ("/usr/share/doc/changegate/journal-catalog.md", 0o644, "docs/journal-catalog.md"),
                ("/usr/share/doc/changegate/drop-in-example.conf", 0o644, "systemd/drop-in-example.conf"),
            ]
            for (path, wanted, source) in expected {
                #expect(try mode(root + path) == wanted, "\(path)")
                if let source {
                    #expect(FileManager.default.contentsEqual(atPath: root + path, andPath: "\(repository)/\(source)"), "\(path) differs from \(source)")
                }
            }
            #expect(FileManager.default.contentsEqual(atPath: root + "/usr/bin/changegate", andPath: BuiltBinaries.changegate))
            let unit = try String(contentsOfFile: root + "/etc/systemd/system/changegate.service", encoding: .utf8)
            let lines = unit.split(separator: "\n").map(String.init)
            #expect(lines.contains("ExecStart=/usr/bin/changegate daemon --config /etc/changegate/changegate.toml"))
            #expect(lines.contains("Documentation=file:/usr/share/doc/changegate/README.md"))
            #expect(!unit.contains("/usr/local"), "every path follows PREFIX")

            // A second install keeps the site's config.
            try "# site config\n".write(toFile: root + "/etc/changegate/changegate.toml", atomically: true, encoding: .utf8)
            let again = try runCommand([Self.make, "--no-print-directory", "-C", repository, "install", "DESTDIR=\(root)",
                                        "PREFIX=/usr", "BINARY=\(BuiltBinaries.changegate)"])
            #expect(again.succeeded, "\(again)")
            #expect(try String(contentsOfFile: root + "/etc/changegate/changegate.toml", encoding: .utf8) == "# site config\n")
        }

        /// The installed tree, used as the README says (sysusers, tmpfiles, catalog, credentials,
        /// `systemctl enable --now changegate`) in a box: the daemon with the example config reaches READY=1 and
        /// `journalctl -x` explains its entries from the installed catalog.
        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: make), "make is not installed"))
        func installedTreeRunsAsAService() throws {
            try SystemdBox.requireAvailable()
            let root = try install(prefix: "/usr/local")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let box = try SystemdBox.start(unitsDirectory: root + "/etc/systemd/system", binds: [
                .init(root + "/usr/local/bin/changegate", "/usr/local/bin/changegate"),
                .init(root + "/usr/local/share/doc/changegate", "/usr/local/share/doc/changegate"),
                .init(root + "/usr/lib/sysusers.d/changegate.conf", "/etc/sysusers.d/changegate.conf"),
                .init(root + "/usr/lib/tmpfiles.d/changegate.conf", "/etc/tmpfiles.d/changegate.conf"),
                // journalctl reads catalogs from /usr/lib and /usr/local/lib only; /usr/lib is the host's here.
                .init(root + "/usr/lib/systemd/catalog/changegate.catalog", "/usr/local/lib/systemd/catalog/changegate.catalog"),
                .init(root + "/etc/changegate", "/etc/changegate", readOnly: false),
            ])
            defer {
                #expect(throws: Never.self) { try box.stop() }
                #expect(throws: Never.self) { try box.checkClean() }
            }
            try box.run("systemd-sysusers")
            try box.run("systemd-tmpfiles", "--create", "changegate.conf")
            try box.run("journalctl", "--update-catalog")
            for name in ["servicenow-default-client-secret", "servicenow-default-password"] {
                try box.run("sh", "-c", "umask 077 && echo example-secret > \"/etc/changegate/credentials/$1\"", "sh", name)
            }
            let verify = try box.exec(["systemd-analyze", "verify", "/run/systemd-box/units/changegate.service"])
            #expect(verify.succeeded && verify.stderr.isEmpty, "\(verify)")
            let enable = try box.exec(["systemctl", "enable", "--now", "changegate"])
            #expect(enable.succeeded, "\(enable)")
            let state = try box.show("changegate.service", ["ActiveState", "SubState", "UnitFileState", "StatusText"])
            #expect(state == ["ActiveState": "active", "SubState": "running", "UnitFileState": "enabled",
                              "StatusText": "0 awaiting approval, 0 executing, 0 creating change, 0 queued"], "\(state)")
            var explained = ""
            box.wait {
                explained = (try? box.run("journalctl", "--no-pager", "-x", "-u", "changegate", "MESSAGE_ID=\(MessageID.daemonStarted.hex)")) ?? ""
                return explained.contains("changegate is ready")
            }
            #expect(explained.contains("The changegate daemon finished start-up and is processing deployment tasks."), "\(explained)")
            #expect(explained.contains("file:/usr/local/share/doc/changegate/journal-catalog.md"), "\(explained)")
            #expect(try box.run("stat", "-c", "%a %U %G", "/var/lib/changegate/changegate.db") == "660 changegate changegate\n")
            try box.run("systemctl", "stop", "changegate")
        }
    }
}
