-- What threshold and new terms rules remember between executions.
ALTER TABLE executions ADD COLUMN terms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE terms_index (
    rule_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    indexed_seq INTEGER NOT NULL
);
-- A new terms rule's terms: when each was seen (a JSON array of nanoseconds, thinned).
CREATE TABLE terms_seen (
    rule_id TEXT NOT NULL,
    term TEXT NOT NULL,
    last INTEGER NOT NULL,
    times TEXT NOT NULL,
    PRIMARY KEY (rule_id, term)
) WITHOUT ROWID;
CREATE INDEX terms_seen_last ON terms_seen (rule_id, last);
-- A threshold rule's signal history: per group, the newest event its last alert counted.
CREATE TABLE threshold_history (
    rule_id TEXT NOT NULL,
    key TEXT NOT NULL,
    last_signal INTEGER NOT NULL,
    PRIMARY KEY (rule_id, key)
) WITHOUT ROWID
