import AuditTrail
import GRDB

/// The queue contract's schema. Migrations only ever add: producers and readers are written against it.
enum Schema {
    static let currentVersion = "v5"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // Producer columns are loosely typed on purpose: a bad row must become a failed task, not an insert error.
            try db.execute(sql: """
                CREATE TABLE deployments (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    project TEXT,
                    environment TEXT,
                    release TEXT,
                    change_number TEXT,
                    requested_by TEXT,
                    variables TEXT,
                    change_type TEXT,
                    idempotency_key TEXT,
                    not_before TEXT,
                    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','creating_change','awaiting_approval','implement_check','executing','completing','succeeded','failed','cancelled')),
                    outcome TEXT,
                    reason TEXT,
                    change_sys_id TEXT,
                    change_link TEXT,
                    correlation_id TEXT,
                    exit_code INTEGER,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    waiting_since TEXT,
                    started_at TEXT,
                    finished_at TEXT
                );
                CREATE INDEX deployments_active ON deployments(state) WHERE state NOT IN ('succeeded','failed','cancelled');
                CREATE UNIQUE INDEX deployments_idempotency ON deployments(idempotency_key)
                    WHERE idempotency_key IS NOT NULL AND state NOT IN ('succeeded','failed','cancelled');
                CREATE TRIGGER deployments_insert_queued BEFORE INSERT ON deployments
                    WHEN NEW.state <> 'queued' OR NEW.outcome IS NOT NULL
                    BEGIN SELECT RAISE(ABORT, 'changegate: state and outcome are set by the daemon; insert without them'); END;
                CREATE TABLE task_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    task_id INTEGER NOT NULL REFERENCES deployments(id),
                    at TEXT NOT NULL,
                    stream TEXT NOT NULL CHECK (stream IN ('event','stdout','stderr')),
                    line TEXT NOT NULL
                );
                CREATE INDEX task_log_task ON task_log(task_id, id);
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                INSERT INTO meta (key, value) VALUES ('instance_id', lower(hex(randomblob(8))));
                """)
        }
        migrator.registerMigration("v2") { db in
            // Integration errors shown by `changegate status` and `doctor`.
            try db.execute(sql: """
                CREATE TABLE integration_errors (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at TEXT NOT NULL,
                    connection TEXT NOT NULL,
                    task_id INTEGER,
                    message TEXT NOT NULL
                );
                ALTER TABLE deployments ADD COLUMN change_type_used TEXT;
                ALTER TABLE deployments ADD COLUMN child_pid INTEGER;
                """)
        }
        migrator.registerMigration("v3") { db in
            // The audit trail: append-only, each record hash-chained to the one before (AuditTrail.AuditChain).
            // The triggers stop ordinary UPDATE/DELETE and unchained INSERTs; someone who can write the file can
            // drop them, which is why `changegate audit verify` recomputes the chain.
            try db.execute(sql: """
                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY,
                    task_id INTEGER NOT NULL,
                    at TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    details TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX audit_log_task ON audit_log(task_id, seq);
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'changegate: the audit log is append-only; records cannot be changed'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'changegate: the audit log is append-only; records cannot be deleted'); END;
                CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
                    WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit_log)
                      OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM audit_log WHERE seq = NEW.seq - 1), '\(AuditHead.genesis.hash)')
                    BEGIN SELECT RAISE(ABORT, 'changegate: audit records are appended by changegate only, each linked to the last'); END;
                """)
        }
        migrator.registerMigration("v4") { db in
            // child_identity: pid, start time and boot id of the deploy command, written before it is released,
            // so recovery never signals a reused pid. The partial index lets the scheduler find cancel requests
            // without reading every unfinished row.
            try db.execute(sql: """
                ALTER TABLE deployments ADD COLUMN child_identity TEXT;
                CREATE INDEX deployments_cancel ON deployments(id)
                    WHERE cancel_requested <> 0 AND state NOT IN ('succeeded','failed','cancelled');
                """)
        }
        migrator.registerMigration("v5") { db in
            // change_template: a producer's choice of standard change template (checked against the project's
            // allowed_change_templates). change_type gains 'standard' without a schema change (it is free text).
            try db.execute(sql: "ALTER TABLE deployments ADD COLUMN change_template TEXT;")
        }
        return migrator
    }
}
