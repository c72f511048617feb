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
