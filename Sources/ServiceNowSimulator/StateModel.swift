import ServiceNowModel

/// Which state moves a caller may make through the API, per change type (`ChangeType.statePath`).
///
/// Allowed: staying put; one step forward along the path; Canceled from any state up to Implement.
/// Entering Scheduled or any later state needs the change approved, so Authorize → Scheduled only
/// happens through the approvals (the roll-up moves it). Implement → Closed in one step only when
/// the simulator is started with `allowImplementToClosed` (real state models go through Review).
enum StateModel {
    /// nil when the move is allowed, else why not (goes into the 403 detail).
    static func refusal(number: String, type: ChangeType, from: ChangeState, to: ChangeState,
                        approval: ApprovalState, allowImplementToClosed: Bool) -> String? {
        if from == to { return nil }
        let move = "\(from.displayName) (\(from.rawValue)) to \(to.displayName) (\(to.rawValue))"
        let prefix = "Invalid state transition for \(number) (\(type.rawValue) change): \(move)"
        if to == .canceled {
            return from.isOpen ? nil : "\(prefix); only a change up to Implement can be canceled"
        }
        let path = type.statePath
        guard let fi = path.firstIndex(of: from), let ti = path.firstIndex(of: to) else {
            return "\(prefix); \(to.displayName) is not on the \(type.rawValue) state path"
        }
        let skipToClosed = allowImplementToClosed && from == .implement && to == .closed
        guard ti == fi + 1 || skipToClosed else {
            let next = fi + 1 < path.count ? path[fi + 1].displayName : "nothing"
            return "\(prefix); the next state is \(next)"
        }
        if requiresApproval(to), approval != .approved {
            return "\(prefix); the change is not approved (approval=\(approval.rawValue))"
        }
        return nil
    }

    static func requiresApproval(_ state: ChangeState) -> Bool {
        [.scheduled, .implement, .review, .closed].contains(state)
    }

    struct Transition: Sendable {
        var to: ChangeState
        var available: Bool
        /// Moved by the instance (the approval roll-up), not by a caller.
        var automatic: Bool
        var conditions: [(name: String, passed: Bool)]
    }

    /// The moves the state model has from `from`: the next state on the path (also when a condition, such as the
    /// approval, does not hold yet), Canceled while open, and Implement → Closed when allowed.
    static func transitions(number: String, type: ChangeType, from: ChangeState, approval: ApprovalState,
                            allowImplementToClosed: Bool) -> [Transition] {
        let path = type.statePath
        var targets: [ChangeState] = []
        if let i = path.firstIndex(of: from), i + 1 < path.count { targets.append(path[i + 1]) }
        if allowImplementToClosed, from == .implement { targets.append(.closed) }
        if from.isOpen { targets.append(.canceled) }
        return targets.map { to in
            let approved = approval == .approved
            let conditions: [(name: String, passed: Bool)] = to != .canceled && requiresApproval(to) ? [("Change is approved", approved)] : []
            let ok = refusal(number: number, type: type, from: from, to: to, approval: approval,
                             allowImplementToClosed: allowImplementToClosed) == nil
            return Transition(to: to, available: ok, automatic: from == .authorize && to == .scheduled, conditions: conditions)
        }
    }

    /// The current state followed by every state the API would accept a move to.
    static func nextStates(number: String, type: ChangeType, from: ChangeState, approval: ApprovalState,
                           allowImplementToClosed: Bool) -> [ChangeState] {
        [from] + ChangeState.allCases.filter {
            $0 != from && refusal(number: number, type: type, from: from, to: $0, approval: approval,
                                  allowImplementToClosed: allowImplementToClosed) == nil
        }
    }
}
