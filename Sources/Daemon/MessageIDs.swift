import Systemd

/// changegate's journal message ids, explained in `systemd/changegate.catalog` and `docs/journal-catalog.md`.
/// The ids are fixed forever: operators' `journalctl MESSAGE_ID=…` queries and alerts depend on them.
extension MessageID {
    /// A task moved between states (`TASK_STATE=` holds the new state).
    public static let taskStateChanged = MessageID(known: "07ba8a8cda2848c6a18a382e962aa532")
    /// changegate created a change request in ServiceNow (`CHANGE_NUMBER=`).
    public static let changeCreated = MessageID(known: "3dbb387f728742c2afa2de5bf5d08746")
    /// A task was linked to an existing change request.
    public static let changeLinked = MessageID(known: "8c221e04b69a48bdad02e5ab24166475")
    /// The change request is approved and scheduled; the task may deploy in its window.
    public static let changeApproved = MessageID(known: "0fdf3b69ec7d401cb5c67c4efe326e5f")
    /// The deploy command was started.
    public static let deploymentStarted = MessageID(known: "06f6b7c0028a44f09a0b89b1cc94b843")
    /// A deployment was stopped before it finished (window closed, change cancelled, daemon stopping).
    public static let deploymentAborted = MessageID(known: "204179beee6c422da14da655662b86df")
    /// The deploy command ended (`OUTCOME=`).
    public static let deploymentFinished = MessageID(known: "d58c8089637146ae95bbbc2ebe6246f1")
    /// One line of the deploy command's output.
    public static let deployOutput = MessageID(known: "283c2dbd95b04f8ca7e5c91844ce9ab4")
    /// A call to ServiceNow (or another integration) failed.
    public static let integrationError = MessageID(known: "a690642d5cb345e0b19eb0d66c8cb679")
    /// The daemon started and is ready.
    public static let daemonStarted = MessageID(known: "4dd2340e88c2441693f4c93069189eb3")
    /// The daemon is stopping (draining a running deployment first).
    public static let daemonStopping = MessageID(known: "fbdaeccc2f2e46988ab2aa1389048eed")
    /// The configuration was reloaded (SIGHUP / `systemctl reload`).
    public static let configReloaded = MessageID(known: "9d990d6ef0044f5fb707eaa3a9ce3b1c")
    /// The scheduler loop stopped making progress; watchdog pings are withheld so systemd restarts the daemon.
    public static let schedulerStalled = MessageID(known: "e1973695d1334e1e89b71de7d83ddc63")
    /// A connection's request budget stretches its polls (or no longer does).
    public static let pollBudget = MessageID(known: "b9092c0dd12643f98c195cd5a4296452")
    /// This daemon took the leader lease of a shared (PostgreSQL) queue (`LEADER_EPOCH=`).
    public static let leaderAcquired = MessageID(known: "9694fcfc168c4d1697e62a22a2bd6b06")
    /// This daemon could not keep the leader lease: it stops its deploy commands and exits (`LEADER_EPOCH=`).
    public static let leaderLost = MessageID(known: "bccefd96c757402290c93bac3ade27ee")

    /// Every id with its Swift name, in catalog order (the tests check the catalog and the docs against it).
    static let all: [(name: String, id: MessageID)] = [
        ("taskStateChanged", taskStateChanged), ("changeCreated", changeCreated), ("changeLinked", changeLinked),
        ("changeApproved", changeApproved), ("deploymentStarted", deploymentStarted),
        ("deploymentAborted", deploymentAborted), ("deploymentFinished", deploymentFinished),
        ("deployOutput", deployOutput), ("integrationError", integrationError), ("daemonStarted", daemonStarted),
        ("daemonStopping", daemonStopping), ("configReloaded", configReloaded), ("schedulerStalled", schedulerStalled),
        ("pollBudget", pollBudget), ("leaderAcquired", leaderAcquired), ("leaderLost", leaderLost),
    ]
}
