import Testing

@testable import Systemd

/// The generic type; changegate's own ids are checked in MessageIDCatalogTests.
@Suite struct MessageIDTests {
    @Test func parsingAcceptsUUIDFormAndAnyCaseAndRejectsGarbage() {
        #expect(MessageID("07BA8A8C-DA28-48C6-A18A-382E962AA532")?.hex == "07ba8a8cda2848c6a18a382e962aa532")
        #expect(MessageID("07ba8a8cda2848c6a18a382e962aa532") == MessageID(known: "07ba8a8cda2848c6a18a382e962aa532"))
        #expect(MessageID("07ba8a8cda2848c6a18a382e962aa53") == nil, "31 digits")
        #expect(MessageID("07ba8a8cda2848c6a18a382e962aa5321") == nil, "33 digits")
        #expect(MessageID("zzba8a8cda2848c6a18a382e962aa532") == nil)
        #expect(MessageID("") == nil)
    }

    @Test func printsAsItsHexDigitsInTextAndMetadata() {
        let id = MessageID(known: "0fdf3b69ec7d401cb5c67c4efe326e5f")
        #expect("\(id)" == "0fdf3b69ec7d401cb5c67c4efe326e5f")
        #expect(id.metadataValue == .string("0fdf3b69ec7d401cb5c67c4efe326e5f"))
    }
}
