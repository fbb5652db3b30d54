import Foundation
import ServiceNowModel
import Testing
@testable import ServiceNowClient

@Suite struct ChangeQueryTests {
    func change(_ title: String, number: String = "CHG0000001", state: ChangeState = .implement) -> ChangeSnapshot {
        ChangeSnapshot(sysID: "s-\(number)", number: number, state: state, approval: .approved, type: .normal, shortDescription: title)
    }

    @Test func encodesKnownFieldsAndOperators() {
        let q = ChangeQuery()
            .active(true)
            .number(.equals("CHG0030011"))
            .shortDescription(.startsWith("Octopus: Deploy"))
            .correlationID(.notEquals("abc"))
            .state(.in([.new, .assess, .implement]))
            .type(.notIn([.standard]))
            .approval(.equals(.approved))
            .number(.isEmpty)
            .sysID(.isNotEmpty)
            .shortDescription(.like("web"))
            .shortDescription(.notLike("test"))
            .shortDescription(.endsWith("\"Prod\""))
            .updatedOn(.greaterOrEqual(GlideDateTime.parse("2025-01-02 03:04:05")!))
            .updatedOn(.lessThan(GlideDateTime.parse("2025-02-01 00:00:00")!))
            .orderBy(.number)
            .orderBy(.updatedOn, descending: true)
        #expect(q.encodedQuery == [
            "active=true", "number=CHG0030011", "short_descriptionSTARTSWITHOctopus: Deploy", "correlation_id!=abc",
            "stateIN-5,-4,-1", "typeNOT INstandard", "approval=approved", "numberISEMPTY", "sys_idISNOTEMPTY",
            "short_descriptionLIKEweb", "short_descriptionNOT LIKEtest", "short_descriptionENDSWITH\"Prod\"",
            "sys_updated_on>=2025-01-02 03:04:05", "sys_updated_on<2025-02-01 00:00:00", "ORDERBYnumber", "ORDERBYDESCsys_updated_on",
        ].joined(separator: "^"))
        #expect(!q.isWidened)
    }

    @Test func caretInTitleIsNeverSentButFilteredOnTheClient() {
        let title = "Octopus: Deploy \"web^api\" version 1.0 to \"Prod\""
        let q = ChangeQuery().active(true).shortDescription(.equals(title))
        // The only `^` is the AND between the two clauses we meant to send.
        #expect(q.encodedQuery.filter { $0 == "^" }.count == 1)
        #expect(q.encodedQuery == "active=true^short_descriptionLIKEapi\" version 1.0 to \"Prod\"")
        #expect(q.isWidened)
        #expect(q.matches(change(title)))
        #expect(!q.matches(change("Octopus: Deploy \"web^api\" version 1.0 to \"Prod\" again")))
        #expect(!q.matches(change("octopus: deploy \"web^api\" version 1.0 to \"prod\"")))
    }

    @Test func valueMadeOnlyOfShortPiecesSendsNothing() {
        let q = ChangeQuery().shortDescription(.equals("a^b^c"))
        #expect(q.encodedQuery == "")
        #expect(q.isWidened)
        #expect(q.matches(change("a^b^c")))
        #expect(!q.matches(change("a^b")))
    }

    @Test func injectionAttemptCannotAddClauses() {
        let q = ChangeQuery().number(.equals("CHG1^NQactive=false"))
        #expect(q.encodedQuery == "numberLIKENQactive=false")
        let newline = ChangeQuery().correlationID(.equals("x\ny^ORDERBYnumber"))
        #expect(!newline.encodedQuery.contains("\n"))
        #expect(!newline.encodedQuery.contains("^"))
    }

    @Test func commaInsideInIsAppliedOnTheClient() {
        let q = ChangeQuery().state(.equals(.implement)).shortDescription(.in(["a,b", "c"]))
        #expect(q.encodedQuery == "state=-1")
        #expect(q.isWidened)
        #expect(q.matches(change("a,b")))
        #expect(q.matches(change("c")))
        #expect(!q.matches(change("a")))
        // A comma outside IN is fine.
        #expect(ChangeQuery().shortDescription(.equals("a,b")).encodedQuery == "short_description=a,b")
    }

    @Test func controlCharactersAndSurroundingSpacesAreNotSent() {
        #expect(ChangeQuery().shortDescription(.equals("tab\there")).isWidened)
        #expect(ChangeQuery().shortDescription(.equals(" padded")).encodedQuery == "short_descriptionLIKEpadded")
        #expect(ChangeQuery().shortDescription(.equals("")).encodedQuery == "short_descriptionISEMPTY")
    }

    @Test func negativeConditionsOnUnsafeValuesAreDroppedAndFiltered() {
        let q = ChangeQuery().shortDescription(.notEquals("x^y")).state(.notEquals(.closed))
        #expect(q.encodedQuery == "state!=3")
        #expect(!q.matches(change("x^y")))
        #expect(q.matches(change("x")))
    }

    @Test func emptyInMatchesNothing() {
        #expect(ChangeQuery().number(.in([])).matchesNothing)
        #expect(ChangeQuery().state(.in([])).matchesNothing)
        #expect(!ChangeQuery().number(.notIn([])).matchesNothing)
        #expect(ChangeQuery().number(.notIn([])).encodedQuery == "")
    }

    @Test func clientSideCheckMatchesServerSemantics() {
        let c = change("Deploy Web to Prod", number: "CHG0000007", state: .scheduled)
        #expect(ChangeQuery().shortDescription(.like("web")).matches(c))  // LIKE is case-insensitive
        #expect(!ChangeQuery().shortDescription(.equals("deploy web to prod")).matches(c))
        #expect(ChangeQuery().number(.in(["CHG0000007", "CHG0000008"])).matches(c))
        #expect(ChangeQuery().state(.in([.scheduled])).matches(c))
        #expect(!ChangeQuery().state(.notIn([.scheduled])).matches(c))
        #expect(ChangeQuery().active(true).matches(c))
    }
}
