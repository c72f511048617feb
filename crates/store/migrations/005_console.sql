-- Alerts an execution created on late events (older than its window, ingested after the window
-- was searched), for the console's overview.
ALTER TABLE executions ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
-- The overview counts alerts by severity and status, and the table filters on them.
CREATE INDEX alerts_status ON alerts (status, severity);
