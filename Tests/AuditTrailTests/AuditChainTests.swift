import AuditTrail
import Foundation
import Testing
import TestSupport

@Suite struct CanonicalFormTests {
    @Test func keysAreSortedAndThereIsNoWhiteSpace() {
        let v: AuditValue = ["b": 2, "a": ["z": true, "y": nil], "c": ["x", 1, false]]
        #expect(CanonicalJSON.encode(v) == #"{"a":{"y":null,"z":true},"b":2,"c":["x",1,false]}"#)
    }

    @Test func keysSortByUTF16CodeUnitsAsRFC8785Says() {
        // U+00E9 (é) is 0x00E9, U+20AC (€) 0x20AC, an emoji is a surrogate pair starting 0xD83D: that order.
        let v: AuditValue = .object(["😀": 1, "€": 2, "é": 3, "Z": 4, "a": 5])
        #expect(CanonicalJSON.encode(v) == #"{"Z":4,"a":5,"é":3,"€":2,"😀":1}"#)
    }

    @Test func stringsEscapeOnlyWhatJSONRequires() {
        let s: AuditValue = .string("quote \" backslash \\ nl \n cr \r tab \t bell \u{07} del \u{7F} ü / \u{2028}")
        #expect(CanonicalJSON.encode(s) == "\"quote \\\" backslash \\\\ nl \\n cr \\r tab \\t bell \\u0007 del \u{7F} ü / \u{2028}\"")
    }

    @Test func integersAreDecimal() {
        #expect(CanonicalJSON.encode([0, -1, 9_223_372_036_854_775_807]) == "[0,-1,9223372036854775807]")
    }

    @Test func parseRoundTripsAndRefusesWhatTheFormNeverHolds() throws {
        let text = #"{"a":[1,-2,"x\ny\u0001é😀"],"b":{"c":null,"d":true}}"#
        #expect(CanonicalJSON.encode(try CanonicalJSON.parse(text)) == text)
        #expect(try CanonicalJSON.parse(#" { "b" : 1 , "a" : "\u00e9\ud83d\ude00" } "#) == ["a": "é😀", "b": 1])
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(#"{"a":1.5}"#) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(#"{"a":1,"a":2}"#) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(#"{"a":1} x"#) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse("\"a\u{01}\"") }
    }

    @Test func recordContentIsTheDocumentedObject() {
        let content = AuditChain.canonicalContent(seq: 7, taskID: 42, at: "2026-03-01T10:00:00.000Z", kind: "enqueued",
                                                  details: ["requested_by": "alice", "accepted": true])
        #expect(content == #"{"at":"2026-03-01T10:00:00.000Z","details":{"accepted":true,"requested_by":"alice"},"kind":"enqueued","seq":7,"task_id":42}"#)
    }

    @Test func hashIsSHA256OfPreviousHashNewlineContent() {
        // Known answer: printf '%s\n%s' "$(printf '0%.0s' {1..64})" '{}' | sha256sum
        let h = AuditChain.hash(canonicalContent: "{}", previousHash: AuditHead.genesis.hash)
        #expect(h.count == 64 && h.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(h == shellSHA256(AuditHead.genesis.hash + "\n{}"))
    }
}

@Suite struct ChainTests {
    static func chain(_ n: Int) -> [AuditRecord] {
        var head = AuditHead.genesis
        return (1...n).map { i in
            let r = AuditChain.record(after: head, taskID: Int64(i % 3 + 1), at: "2026-03-01T10:00:0\(i % 10).000Z",
                                      AuditEvent("kind\(i)", ["i": .int(Int64(i)), "text": .string("value, \"\(i)\"\n")]))
            head = AuditHead(seq: r.seq, hash: r.hash)
            return r
        }
    }

    @Test func aFreshChainHoldsAndLinks() {
        let records = Self.chain(6)
        #expect(AuditChain.verify(records) == nil)
        #expect(records.first?.prevHash == String(repeating: "0", count: 64))
        for i in 1..<records.count { #expect(records[i].prevHash == records[i - 1].hash) }
        #expect(Set(records.map(\.hash)).count == 6)
        #expect(AuditChain.verify([]) == nil)
    }

    @Test func storedDetailsAreCanonical() {
        let r = Self.chain(1)[0]
        #expect(r.details == #"{"i":1,"text":"value, \"1\"\n"}"#)
        #expect(r.detailValues["i"] == 1)
    }

    @Test func anEditedRecordIsTheOneNamed() {
        var records = Self.chain(6)
        records[3].details = #"{"i":99,"text":"value, \"4\"\n"}"#
        let failure = AuditChain.verify(records)
        #expect(failure?.seq == 4)
        #expect(failure?.why.contains("does not match its hash") == true)
    }

    @Test func anEditWithARecomputedHashIsCaughtByTheNextRecord() {
        var records = Self.chain(6)
        let forged = AuditChain.record(after: AuditHead(seq: 2, hash: records[1].hash), taskID: 1, at: records[2].at,
                                       AuditEvent("kind3", ["i": 3, "text": "forged"]))
        records[2] = forged
        let failure = AuditChain.verify(records)
        #expect(failure?.seq == 4)
        #expect(failure?.why.contains("prev_hash") == true)
    }

    @Test func everyFieldIsCovered() {
        let base = Self.chain(3)
        let edits: [(inout AuditRecord) -> Void] = [
            { $0.taskID += 1 }, { $0.at = "2026-03-01T10:00:09.000Z" }, { $0.kind = "other" },
            { $0.hash = String($0.hash.reversed()) },
        ]
        for edit in edits {
            var records = base
            edit(&records[1])
            #expect(AuditChain.verify(records)?.seq == 2)
        }
    }

    @Test func aDeletedRecordIsNamedByTheOneAfterTheGap() {
        var records = Self.chain(6)
        records.remove(at: 2)
        let failure = AuditChain.verify(records)
        #expect(failure == AuditFailure(seq: 4, why: "it follows record 2: record 3 is missing"))
    }

    @Test func deletingTheFirstRecordsIsCaught() {
        let records = Array(Self.chain(6).dropFirst(2))
        #expect(AuditChain.verify(records) == AuditFailure(seq: 3, why: "the chain starts at seq 3: records 1…2 are missing"))
    }

    @Test func reorderedRecordsAreCaughtAtTheFirstMovedOne() {
        var records = Self.chain(6)
        // Swap the contents of 3 and 4 but keep the seq column in order (as an UPDATE of seq would).
        var a = records[3], b = records[2]
        (a.seq, b.seq) = (3, 4)
        records[2] = a
        records[3] = b
        let failure = AuditChain.verify(records)
        #expect(failure?.seq == 3)
    }

    @Test func nonCanonicalDetailsAreNamed() {
        var records = Self.chain(3)
        records[1].details = #"{"i": 2, "text":"value, \"2\"\n"}"#
        #expect(AuditChain.verify(records)?.why.contains("canonical form") == true)
        records[1].details = "not json"
        #expect(AuditChain.verify(records)?.why.contains("not valid JSON") == true)
    }

    @Test func theVerifierWorksPageByPage() {
        let records = Self.chain(10)
        var v = AuditChain.Verifier()
        for r in records.prefix(5) { #expect(v.check(r) == nil) }
        for r in records.dropFirst(5) { #expect(v.check(r) == nil) }
        #expect(v.count == 10)
        #expect(v.head == AuditHead(seq: 10, hash: records[9].hash))
    }
}
