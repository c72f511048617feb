-- API keys: only a digest of each secret is kept; the secret is shown once, when made.
CREATE TABLE api_keys (
    id      TEXT    PRIMARY KEY,
    name    TEXT    NOT NULL,
    role    TEXT    NOT NULL,
    hash    BLOB    NOT NULL,
    created INTEGER NOT NULL,
    revoked INTEGER
);

-- Who changed what: rules switched or run, alert status, keys made or revoked. Append-only.
CREATE TABLE audit (
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit (at);
