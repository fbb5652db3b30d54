import Foundation
import ServiceNowModel

/// Approver rows and the roll-up into `change_request.approval`.
///
/// Each time a change enters Authorize a new round of rows is created (one per configured approver, state
/// `requested`); the roll-up looks only at the current round: any rejected → `rejected` and, as
/// `upon_reject` is `cancel`, the change is Canceled; all approved → `approved` and the change moves to
/// Scheduled; otherwise `requested`.
extension SimulatorStore {
    /// Hidden row keys (never rendered or queryable): the approval round a row belongs to.
    static let roundKey = "__round"

    func currentRound(_ index: Int) -> String { changes[index]?[Self.roundKey] ?? "0" }

    func roundRows(_ index: Int) -> [(index: Int, row: Row)] {
        guard let row = changes[index] else { return [] }
        let round = currentRound(index)
        return approvalRows(ofChange: row.value("sys_id", in: cr)).filter { ($0.row[Self.roundKey] ?? "0") == round }
    }

    func requestApprovals(_ index: Int, by user: SimulatorUser) {
        guard let change = changes[index] else { return }
        let pending = roundRows(index).contains { ["requested", "approved"].contains($0.row.value("state", in: Schemas.approver)) }
        if pending { return }
        let round = String((Int(currentRound(index)) ?? 0) + 1)
        changes[index]![Self.roundKey] = round
        let now = GlideClock.now()
        let changeID = change.value("sys_id", in: cr)
        for approver in directory.approverSysIDs {
            appendApproval(Row(values: [
                "sys_id": newSysID(), "sysapproval": changeID, "document_id": changeID, "approver": approver,
                "state": ApproverState.requested.rawValue, "sys_created_on": now, "sys_updated_on": now,
                "sys_created_by": "system", "sys_updated_by": "system", Self.roundKey: round,
            ]))
        }
        changes[index]!["approval"] = ApprovalState.requested.rawValue
        changes[index]!["approval_set"] = now
        touch()
    }

    /// One approver's decision, then the roll-up. Rows are created first when the change is still before
    /// Authorize (a person approving from the UI early).
    func decide(_ index: Int, approver: SimulatorUser, approve: Bool, comments: String, by actor: SimulatorUser) throws(APIError) {
        guard let change = changes[index] else { throw .noRecord }
        let number = change.value("number", in: cr)
        if roundRows(index).isEmpty, [.new, .assess, .authorize].contains(state(of: change)) {
            requestApprovals(index, by: actor)
        }
        guard let (rowIndex, _) = roundRows(index).first(where: {
            $0.row.value("approver", in: Schemas.approver) == approver.sysID
                && $0.row.value("state", in: Schemas.approver) == ApproverState.requested.rawValue
        }) else {
            throw .operationFailed("\(approver.name) has no pending approval on \(number)")
        }
        setApprover(rowIndex, approve ? .approved : .rejected, comments: comments, by: actor)
        rollUp(index, by: actor)
    }

    /// `PATCH /change/{id}/approvals` as the caller: their own pending row, or, for a change manager or
    /// admin, every pending row of the change.
    func decideAsCaller(_ index: Int, approve: Bool, comments: String, by user: SimulatorUser) throws(APIError) {
        guard let change = changes[index] else { throw .noRecord }
        if !approve, comments.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .badRequest("Comments are required when rejecting", "Provide \"comments\" with the reason for the rejection")
        }
        if roundRows(index).isEmpty, [.new, .assess, .authorize].contains(state(of: change)), user.isChangeManager {
            requestApprovals(index, by: user)
        }
        let pending = roundRows(index).filter { $0.row.value("state", in: Schemas.approver) == ApproverState.requested.rawValue }
        if let own = pending.first(where: { $0.row.value("approver", in: Schemas.approver) == user.sysID }) {
            setApprover(own.index, approve ? .approved : .rejected, comments: comments, by: user)
        } else if user.isChangeManager, !pending.isEmpty {
            for p in pending { setApprover(p.index, approve ? .approved : .rejected, comments: comments, by: user) }
        } else {
            throw .operationFailed("User \(user.userName) has no pending approval on \(change.value("number", in: cr))")
        }
        rollUp(index, by: user)
    }

    /// A direct write to a `sysapproval_approver` row (Table API PATCH), then the roll-up.
    func updateApproverRow(_ rowIndex: Int, state: ApproverState, comments: String, by user: SimulatorUser) throws(APIError) {
        guard let row = approvals[rowIndex] else { throw .noRecord }
        guard row.value("approver", in: Schemas.approver) == user.sysID || user.isChangeManager else {
            throw .acl("Update")
        }
        setApprover(rowIndex, state, comments: comments, by: user)
        if let change = changeBySysID[row.value("sysapproval", in: Schemas.approver)] { rollUp(change, by: user) }
    }

    func setApprover(_ rowIndex: Int, _ state: ApproverState, comments: String, by user: SimulatorUser) {
        let now = GlideClock.now()
        approvals[rowIndex]!["state"] = state.rawValue
        approvals[rowIndex]!["sys_updated_on"] = now
        approvals[rowIndex]!["sys_updated_by"] = user.userName
        approvals[rowIndex]!["sys_mod_count"] = String((Int(approvals[rowIndex]!["sys_mod_count"] ?? "0") ?? 0) + 1)
        if !comments.isEmpty {
            approvals[rowIndex]!.journal.append(JournalEntry(field: "comments", at: now, author: user.name, text: comments))
        }
        touch()
    }

    func rollUp(_ index: Int, by user: SimulatorUser) {
        guard let change = changes[index] else { return }
        let rows = roundRows(index)
        let states = rows.map { $0.row.value("state", in: Schemas.approver) }
        let counted = states.filter { ["requested", "approved", "rejected"].contains($0) }
        guard !counted.isEmpty else { return }
        let current = state(of: change)
        if counted.contains(ApproverState.rejected.rawValue) {
            changes[index]!["approval"] = ApprovalState.rejected.rawValue
            closePendingApprovals(index, as: .notRequired, by: user)
            if change.value("upon_reject", in: cr) == "cancel", current.isOpen { enter(.canceled, index: index, by: user) }
        } else if counted.allSatisfy({ $0 == ApproverState.approved.rawValue }) {
            changes[index]!["approval"] = ApprovalState.approved.rawValue
            if [.new, .assess, .authorize].contains(current) { enter(.scheduled, index: index, by: user) }
        } else {
            changes[index]!["approval"] = ApprovalState.requested.rawValue
        }
        stamp(index, by: user)
        touch()
    }

    func closePendingApprovals(_ index: Int, as state: ApproverState, by user: SimulatorUser) {
        for (i, row) in roundRows(index) where row.value("state", in: Schemas.approver) == ApproverState.requested.rawValue {
            setApprover(i, state, comments: "", by: user)
        }
    }

    /// A person with admin rights setting the state from the form: no path check. Moving to Scheduled or
    /// later marks a not-yet-approved change approved; moving to Authorize asks the approvers.
    func forceState(_ index: Int, to target: ChangeState, by admin: SimulatorUser) {
        guard changes[index] != nil else { return }
        if StateModel.requiresApproval(target), [.requested, .notRequested].contains(approval(of: changes[index]!)) {
            changes[index]!["approval"] = ApprovalState.approved.rawValue
            closePendingApprovals(index, as: .notRequired, by: admin)
        }
        enter(target, index: index, by: admin)
    }
}
