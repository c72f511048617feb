-- Candidates a rule's last execution held back because of max_signals; its coverage stops
-- before the first of them, so the next executions alert on them.
ALTER TABLE rule_state ADD COLUMN backlog INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions RENAME COLUMN dropped TO held_back;
