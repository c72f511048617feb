-- Alerts an execution created on late events (older than its window, ingested after the window
-- was searched), for the console's overview.
ALTER TABLE executions ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
-- Alerts of building-block rules, which listings leave out unless asked.
ALTER TABLE alerts ADD COLUMN building_block INTEGER NOT NULL DEFAULT 0;
-- The alert table's filters, orders and page offsets, read from this index alone (documents stay
-- unread until a page's rows are chosen).
CREATE INDEX alerts_triage ON alerts (created, status, severity, rule_id, building_block);
-- Alerts counted by rule, status and severity in one ordered pass (the overview, the rules).
CREATE INDEX alerts_counts ON alerts (rule_id, status, severity);
