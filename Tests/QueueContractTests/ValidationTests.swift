import Testing
@testable import QueueContract

private func validate(_ raw: RawRequest) -> Result<DeploymentRequest, ValidationError> {
    RequestValidation.validate(raw, isKnownProject: { $0 == "web-shop" }, isKnownEnvironment: { $0 == "Production" })
}

private func good(variables: RawValue = .null, release: RawValue = .text("2.4.1"), changeNumber: RawValue = .null, changeType: RawValue = .null) -> RawRequest {
    RawRequest(project: .text("web-shop"), environment: .text("Production"), release: release, changeNumber: changeNumber,
               variables: variables, changeType: changeType)
}

@Suite struct ValidationTests {
    @Test func acceptsAGoodRow() throws {
        let r = try validate(good(variables: .text(#"{"FLAG":"on","region":"eu"}"#), changeType: .text("emergency"))).get()
        #expect(r.variables == ["FLAG": "on", "region": "eu"])
        #expect(r.emergency)
    }

    @Test(arguments: [
        (RawRequest(project: .text("nope"), environment: .text("Production"), release: .text("1")), "project: unknown project"),
        (RawRequest(project: .null, environment: .text("Production"), release: .text("1")), "project: is missing"),
        (RawRequest(project: .text("web-shop"), environment: .text("Staging"), release: .text("1")), "environment: unknown environment"),
        (RawRequest(project: .text("web-shop"), environment: .text("Production"), release: .text("")), "release: is missing"),
        (RawRequest(project: .text("web-shop"), environment: .text("Production"), release: .notText("the number 3")), "release: must be text"),
        (RawRequest(project: .text("web-shop"), environment: .text("Production"), release: .text(String(repeating: "9", count: 300))), "release: is 300 bytes"),
        (RawRequest(project: .text("web-shop"), environment: .text("Production"), release: .text("1\n2")), "release: contains control"),
        (RawRequest(project: .text("web-shop"), environment: .text("Production"), release: .text("bad\u{FFFD}utf8")), "release: contains control or invalid"),
    ])
    func rejectsBadColumns(raw: RawRequest, expected: String) {
        guard case .failure(let e) = validate(raw) else { Issue.record("accepted a bad row"); return }
        #expect(e.description.hasPrefix(expected), "\(e.description)")
    }

    @Test(arguments: [
        ("not json", "variables: is not valid JSON"),
        ("[1,2]", "variables: must be a JSON object"),
        (#"{"A": 1}"#, #"variables: "A" must be a string"#),
        (#"{"A=B": "x"}"#, "variables: name \"A=B\" is not allowed"),
        (#"{"A\u0000": "x"}"#, "variables: name"),
        (#"{"1A": "x"}"#, "variables: name \"1A\" is not allowed"),
        (#"{"LD_PRELOAD": "/tmp/x.so"}"#, "variables: name \"LD_PRELOAD\" is reserved"),
        (#"{"CHANGEGATE_TASK_ID": "9"}"#, "variables: name \"CHANGEGATE_TASK_ID\" is reserved"),
        (#"{"PATH": "/tmp"}"#, "variables: name \"PATH\" is reserved"),
        (#"{"A": "x\u0000y"}"#, #"variables: "A" contains a NUL"#),
    ])
    func rejectsBadVariables(json: String, expected: String) {
        guard case .failure(let e) = validate(good(variables: .text(json))) else { Issue.record("accepted \(json)"); return }
        #expect(e.description.hasPrefix(expected), "\(e.description)")
    }

    @Test func rejectsBadChangeNumberAndType() {
        #expect((try? validate(good(changeNumber: .text("12345"))).get()) == nil)
        #expect((try? validate(good(changeNumber: .text("CHG0030001"))).get())?.changeNumber == "CHG0030001")
        #expect((try? validate(good(changeType: .text("custom"))).get()) == nil)
        #expect((try? validate(good(changeType: .text("standard"))).get())?.standard == true)
    }

    @Test func checksTheRowsTemplateAgainstTheAllowList() throws {
        var raw = good(changeType: .text("standard"))
        raw.changeTemplate = .text("Deploy web-shop (hotfix)")
        let r = try validate(raw).get()
        #expect(r.changeTemplate == "Deploy web-shop (hotfix)")
        #expect(RequestValidation.checkTemplate(r, configured: nil, allowed: ["Deploy web-shop (hotfix)"]) == nil)
        let refused = try #require(RequestValidation.checkTemplate(r, configured: "Deploy web-shop", allowed: []))
        #expect(refused.description.hasPrefix("change_template: \"Deploy web-shop (hotfix)\" is not in projects.web-shop.allowed_change_templates"))
        #expect(RequestValidation.checkTemplate(try validate(good(changeType: .text("standard"))).get(), configured: nil, allowed: [])?
            .description.hasPrefix("change_type: 'standard' needs a template") == true)
        raw.changeType = .text("emergency")
        guard case .failure(let e) = validate(raw) else { Issue.record("an emergency change from a template was accepted"); return }
        #expect(e.description.hasPrefix("change_template:"))
    }

    @Test func acceptsOddButValidUnicode() throws {
        let r = try validate(good(release: .text("2.4.1-ünïcødé-🚀"))).get()
        #expect(r.release == "2.4.1-ünïcødé-🚀")
    }
}
