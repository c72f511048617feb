-- Office 365 Management Activity API pulls, per tenant and content type: how far the content
-- listing is complete (every blob made available before `listed_to` is taken), and each blob
-- taken, so a restart neither fetches one again nor misses one listed late.
CREATE TABLE o365_checkpoint (
    tenant       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    listed_to    INTEGER NOT NULL,
    PRIMARY KEY (tenant, content_type)
) WITHOUT ROWID;

CREATE TABLE o365_content (
    tenant       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    content_id   TEXT    NOT NULL,
    created      INTEGER NOT NULL,  -- contentCreated
    taken        INTEGER NOT NULL,  -- when it was fetched (or found expired or malformed)
    outcome      TEXT    NOT NULL,  -- records, expired, malformed
    records      INTEGER NOT NULL,
    PRIMARY KEY (tenant, content_type, content_id)
) WITHOUT ROWID;
CREATE INDEX o365_content_created ON o365_content (tenant, content_type, created);
