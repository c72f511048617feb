-- Events: the log every rule reads. `seq` is the ingest sequence number: AUTOINCREMENT never
-- reuses a number, even after retention removes the newest rows, so "every event after seq N"
-- stays true across deletions and restarts.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    idx      TEXT    NOT NULL,
    event_id TEXT    NOT NULL,
    ts       INTEGER,           -- @timestamp, nanoseconds since the epoch
    ingested INTEGER NOT NULL,  -- event.ingested, nanoseconds since the epoch
    doc      TEXT    NOT NULL,
    -- The first 16 bytes of sha256(idx, event_id): a re-delivered event has the same key. A
    -- short key keeps the unique index small enough to stay in the page cache (the two strings
    -- made it 70 bytes an event, and ingest slowed as the table grew).
    key      BLOB    NOT NULL UNIQUE
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_ingested ON events (ingested);

-- Alerts, once each: the id is sha256(index, event id, rule_id).
CREATE TABLE alerts (
    id         BLOB    PRIMARY KEY,
    rule_id    TEXT    NOT NULL,
    severity   TEXT    NOT NULL,
    created    INTEGER NOT NULL,
    event_time INTEGER,
    event_seq  INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    doc        TEXT    NOT NULL
);
CREATE INDEX alerts_created ON alerts (created);
CREATE INDEX alerts_rule ON alerts (rule_id, created);

-- Every workflow change of every alert, oldest first by rowid.
CREATE TABLE alert_history (
    alert_id BLOB    NOT NULL,
    at       INTEGER NOT NULL,
    by       TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    note     TEXT
);
CREATE INDEX alert_history_alert ON alert_history (alert_id);

CREATE TABLE rule_state (
    rule_id        TEXT    PRIMARY KEY,
    enabled        INTEGER,
    covered_seq    INTEGER NOT NULL DEFAULT 0,
    last_scheduled INTEGER
);

CREATE TABLE executions (
    id          TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    scheduled   INTEGER NOT NULL,
    started     INTEGER NOT NULL,
    window_from INTEGER NOT NULL,
    window_to   INTEGER NOT NULL,
    seq_after   INTEGER NOT NULL,
    seq_to      INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    candidates  INTEGER NOT NULL,
    alerts      INTEGER NOT NULL,
    dropped     INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    warnings    TEXT    NOT NULL  -- a JSON array of strings
);
CREATE INDEX executions_rule ON executions (rule_id, started);
