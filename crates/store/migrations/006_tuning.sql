-- Matching events exception lists removed, per list: a JSON array of [list_id, count].
ALTER TABLE executions ADD COLUMN excepted TEXT NOT NULL DEFAULT '[]';

-- Exception lists, one row each in vigil's TOML form (the list, its items, the rules it names).
CREATE TABLE exception_lists (
    list_id        TEXT NOT NULL,
    namespace_type TEXT NOT NULL,
    toml           TEXT NOT NULL,
    updated        INTEGER NOT NULL,
    PRIMARY KEY (list_id, namespace_type)
);

-- Value lists: their values one per line.
CREATE TABLE value_lists (
    id      TEXT PRIMARY KEY,
    type    TEXT NOT NULL,
    name    TEXT NOT NULL,
    vals    TEXT NOT NULL,
    updated INTEGER NOT NULL
);

-- The suppression group an alert stands for (rules with `alert_suppression` and a duration):
-- later events of the group update it while it is young and not closed.
ALTER TABLE alerts ADD COLUMN suppression_key TEXT;
CREATE INDEX alerts_suppression ON alerts (rule_id, suppression_key, created) WHERE suppression_key IS NOT NULL;

-- The events suppressed into an alert, by the alert id each would have had: never an alert again.
CREATE TABLE suppressed_events (
    id       BLOB PRIMARY KEY,
    alert_id BLOB NOT NULL
);
