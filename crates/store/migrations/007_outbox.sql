-- Notifications an execution queued, counted on its record.
ALTER TABLE executions ADD COLUMN notifications INTEGER NOT NULL DEFAULT 0;

-- The outbox: notifications queued in the transaction of the execution that caused them, then
-- sent by the connector's sender, retried until `next_attempt` passes the retry period.
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL,
    connector    TEXT NOT NULL,
    rule_id      TEXT NOT NULL,
    source       TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    message      TEXT NOT NULL,
    created      INTEGER NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error   TEXT,
    sent         INTEGER,
    UNIQUE (connector, key)
);
CREATE INDEX notifications_due ON notifications (connector, next_attempt) WHERE status = 'pending';
CREATE INDEX notifications_throttle ON notifications (rule_id, source, created);
CREATE INDEX notifications_state ON notifications (connector, status);
