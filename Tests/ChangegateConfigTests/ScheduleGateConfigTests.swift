import Foundation
import Testing
@testable import ChangegateConfig

private let base = """
[servicenow.default]
url = "https://acme.service-now.com"
auth = "basic"
username = "svc.changegate"
password_file = "servicenow-default-password"

[environments.Production]
change_controlled = true
[environments.Test]

[projects.web-shop]
change_controlled = true
command = ["/usr/local/bin/deploy-web"]

"""

private func parse(_ extra: String) throws(ConfigError) -> ProjectSettings {
    try ConfigLoader.parse(base.replacingOccurrences(of: "command = [\"/usr/local/bin/deploy-web\"]\n", with: "command = [\"/usr/local/bin/deploy-web\"]\n" + extra),
                           path: "gate.toml").projects["web-shop"]!
}

private func error(_ extra: String) -> ConfigError? {
    do { _ = try parse(extra); return nil } catch { return error }
}

@Suite struct ScheduleGateConfigTests {
    @Test func defaultsLeaveTheGateOffAndEvidenceOn() throws {
        let p = try parse("")
        #expect(p.conflictCheck == .off && p.stopOnBlackout && p.evidence)
        #expect(p.evidenceMaxBytes == 5 * 1024 * 1024 && p.configurationItems.isEmpty && p.allowedChangeTemplates.isEmpty)
        #expect(p.closeChangeOnFailure == nil)
    }

    @Test func conflictRecheckDefaultsToAMinuteAndIsAtLeastASecond() throws {
        #expect(try parse("").conflictRecheck == .seconds(60))
        #expect(try parse("conflict_recheck = \"5s\"\n").conflictRecheck == .seconds(5))
        #expect(error("conflict_recheck = \"200ms\"\n")?.description.contains("at least 1s") == true)
    }

    @Test func projectKeysAndPerEnvironmentOverrides() throws {
        let p = try parse("""
            conflict_check = "warn"
            cmdb_ci = "web-shop-test-01"
            change_template = "Deploy web-shop"
            evidence_max_bytes = 65536
            allowed_change_templates = ["Deploy web-shop (hotfix)"]
            close_change_on_failure = "closed"

            [projects.web-shop.environments.Production]
            conflict_check = "block"
            stop_on_blackout = false
            cmdb_ci = ["web-shop-prod-01", "web-shop-prod-02"]
            change_template = "Deploy web-shop to production"
            """)
        #expect(p.conflictCheck == .warn && p.configurationItems == ["web-shop-test-01"] && p.closeChangeOnFailure == .closed)
        let prod = p.settings(for: "Production")
        #expect(prod.conflictCheck == .block && !prod.stopOnBlackout)
        #expect(prod.configurationItems == ["web-shop-prod-01", "web-shop-prod-02"])
        #expect(prod.changeTemplate == "Deploy web-shop to production")
        let test = p.settings(for: "Test")
        #expect(test.conflictCheck == .warn && test.changeTemplate == "Deploy web-shop" && test.stopOnBlackout)
    }

    @Test func badValuesNameTheKeyAndTheFix() throws {
        let bad = try #require(error("conflict_check = \"maybe\""))
        #expect(bad.key == "projects.web-shop.conflict_check" && bad.fix.contains("block") && bad.file == "gate.toml")
        let failure = try #require(error("close_change_on_failure = \"later\""))
        #expect(failure.problem.contains("none, review, closed or canceled"))
        #expect(error("evidence_max_bytes = 10")?.key == "projects.web-shop.evidence_max_bytes")
        #expect(error("cmdb_ci = \"\"")?.problem.contains("empty") == true)
    }

    @Test func anOverrideForAnUnknownEnvironmentIsRefused() throws {
        let e = try #require(error("\n[projects.web-shop.environments.Prod]\nconflict_check = \"block\"\n"))
        #expect(e.key == "projects.web-shop.environments.Prod" && e.problem.contains("Production"))
    }

    @Test func anUnknownKeyInAnOverrideIsReported() throws {
        let e = try #require(error("\n[projects.web-shop.environments.Production]\nevidence = false\n"))
        #expect(e.key == "projects.web-shop.environments.Production.evidence" && e.problem.contains("not a known setting"))
    }
}
