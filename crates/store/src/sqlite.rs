//! [`Sqlite`]: the storage traits on one SQLite database file.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use ecs::date::Timestamp;
use engine::AlertId;
use engine::storage::{
    Activity, AlertFilter, AlertOrder, AlertStore, Appended, EventLog, EventQuery, ExecutionRecord, ExecutionStatus,
    MemoryUpdate, NewAlert, NewEvent, NewNotification, RuleState, RuleStates, StatusChange, StoreError, StoreResult,
    StoredAlert, StoredEvent, Suppressed, TimeColumn, WorkflowStatus,
};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter, types::Value as Sql};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The schema, one script per version; `PRAGMA user_version` says how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_init.sql"),
    include_str!("../migrations/002_access.sql"),
    include_str!("../migrations/003_o365.sql"),
    include_str!("../migrations/004_backlog.sql"),
    include_str!("../migrations/005_console.sql"),
    include_str!("../migrations/006_tuning.sql"),
    include_str!("../migrations/007_outbox.sql"),
    include_str!("../migrations/008_memory.sql"),
];

/// The storage traits on an SQLite database in a data directory.
///
/// One connection writes (SQLite has one writer at a time anyway); reads take a connection of
/// their own from a small pool, so a long execution scan does not hold up the API.
#[derive(Debug)]
pub struct Sqlite {
    path: std::path::PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// A failed read of `what`, with SQLite's reason.
pub(crate) fn read_err(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Read { what, reason: e.to_string() }
}

/// A failed write of `what`, with SQLite's reason.
pub(crate) fn write_err(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Write { what, reason: e.to_string() }
}

fn open_err(e: rusqlite::Error) -> StoreError {
    StoreError::Open(e.to_string())
}

pub(crate) fn nanos(t: Timestamp) -> i64 {
    t.as_nanos()
}

pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl Sqlite {
    /// Opens the database in `dir` (created if needed) and migrates it to the current schema.
    ///
    /// # Errors
    ///
    /// When the folder or the database cannot be created or opened, or the database is newer
    /// than this vigil.
    pub fn open(dir: &Path) -> StoreResult<Sqlite> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open(format!("cannot create the data directory {}: {e}", dir.display())))?;
        let path = dir.join("vigil.db");
        let writer = connect(&path)?;
        let version: usize = writer.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(open_err)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Open(format!(
                "{} has schema version {version}, newer than this vigil knows ({})",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        for (at, script) in MIGRATIONS.iter().enumerate().skip(version) {
            let batch = format!("BEGIN; {script}; PRAGMA user_version = {}; COMMIT;", at + 1);
            writer.execute_batch(&batch).map_err(open_err)?;
        }
        Ok(Sqlite { path, writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut conn)
    }

    /// Runs `f` in one write transaction, committed when it succeeds.
    pub(crate) fn transaction<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.write(|conn| {
            let tx = conn.transaction().map_err(write_err(what))?;
            let out = f(&tx)?;
            tx.commit().map_err(write_err(what))?;
            Ok(out)
        })
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < 8 {
            pool.push(conn);
        }
        result
    }
}

/// An event's identity in the store: the first 16 bytes of `sha256(index, event id)`.
/// An event's identity in the store: the first 16 bytes of sha256(index, event id). In cluster
/// mode it is also the event's message id in the cluster's log, so both drop the same re-sent
/// events.
pub fn event_key(event: &NewEvent) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update(event.index.as_bytes());
    hash.update([0]);
    hash.update(event.event_id.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&hash.finalize()[..16]);
    key
}

fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
    // WAL lets readers run beside the writer; FULL makes every commit durable before it returns,
    // which is what acknowledging an event promises.
    // A 64 MB page cache keeps a bulk request's pages in memory until its commit (the 2 MB
    // default spilled them to the log mid-transaction: a third of ingest time), and statement
    // journals stay in memory. A new database gets 16 KB pages (an existing one keeps its own):
    // a 2.5 KB document took a 4 KB page nearly to itself, and writing those pages was most of
    // an insert (SQLite alone: 46 us an event on 4 KB pages, 32 us on 16 KB).
    conn.execute_batch(
        "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; \
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(open_err)?;
    Ok(conn)
}

impl Sqlite {
    /// Stores events taken from the cluster's log under the log's own sequence numbers (cluster
    /// mode: every node's store holds the log's events under the same numbers). An event whose
    /// number or identity is already stored is skipped, so the same stretch of the log can be
    /// applied twice. Returns how many were stored.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing of the batch is stored then.
    pub fn replicate(&self, events: &[(u64, NewEvent)]) -> StoreResult<u64> {
        self.write(|conn| {
            let tx = conn.transaction().map_err(write_err("replicate"))?;
            let mut stored = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO events (seq, idx, event_id, ts, ingested, doc, key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(write_err("replicate"))?;
                for (seq, event) in events {
                    stored += insert
                        .execute(params![
                            seq_param(*seq),
                            event.index,
                            event.event_id,
                            event.timestamp.map(nanos),
                            nanos(event.ingested),
                            event.document,
                            event_key(event)
                        ])
                        .map_err(write_err("replicate"))? as u64;
                }
            }
            tx.commit().map_err(write_err("replicate"))?;
            Ok(stored)
        })
    }
}

impl EventLog for Sqlite {
    fn append(&self, events: &[NewEvent]) -> StoreResult<Vec<Appended>> {
        self.write(|conn| {
            let tx = conn.transaction().map_err(write_err("append"))?;
            let mut out = Vec::with_capacity(events.len());
            {
                // Looked up first: a conflicting INSERT would still use up a sequence number.
                let mut existing =
                    tx.prepare_cached("SELECT seq FROM events WHERE key = ?1").map_err(write_err("append"))?;
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO events (idx, event_id, ts, ingested, doc, key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(write_err("append"))?;
                for event in events {
                    let key = event_key(event);
                    let stored: Option<i64> =
                        existing.query_row([&key], |r| r.get(0)).optional().map_err(write_err("append"))?;
                    out.push(match stored {
                        Some(seq) => Appended::Duplicate(count(seq)),
                        None => {
                            let params = params![
                                event.index,
                                event.event_id,
                                event.timestamp.map(nanos),
                                nanos(event.ingested),
                                event.document,
                                key
                            ];
                            insert.execute(params).map_err(write_err("append"))?;
                            Appended::Stored(count(tx.last_insert_rowid()))
                        }
                    });
                }
            }
            tx.commit().map_err(write_err("append"))?;
            Ok(out)
        })
    }

    fn last_seq(&self) -> StoreResult<u64> {
        self.read(|conn| {
            // `sqlite_sequence` keeps the highest number ever given, even if that row was removed.
            let seq: Option<i64> = conn
                .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'events'", [], |r| r.get(0))
                .optional()
                .map_err(read_err("read"))?;
            Ok(count(seq.unwrap_or(0)))
        })
    }

    fn scan(&self, query: &EventQuery, each: &mut dyn FnMut(StoredEvent) -> bool) -> StoreResult<()> {
        const COLUMNS: &str = "seq, idx, event_id, ingested, doc";
        let mut args: Vec<Sql> = vec![Sql::Integer(seq_param(query.from_seq)), Sql::Integer(seq_param(query.up_to))];
        let bounds = "seq > ?1 AND seq <= ?2";
        let sql = match (query.window, query.after) {
            (Some((column, from, to)), after) => {
                let column = match column {
                    TimeColumn::Timestamp => "ts",
                    TimeColumn::Ingested => "ingested",
                };
                args.extend([Sql::Integer(nanos(from)), Sql::Integer(nanos(to))]);
                // `+seq` keeps SQLite from walking the whole table by sequence number when the
                // time index finds the window directly.
                let in_window = format!(
                    "SELECT {COLUMNS} FROM events WHERE +seq > ?1 AND +seq <= ?2 AND {column} BETWEEN ?3 AND ?4"
                );
                match after {
                    // Two index range scans: the window by time, then what arrived since
                    // `after` outside the window.
                    // One lower bound only: given two, SQLite ranges over one and filters with
                    // the other, which read the whole table (1.4 s for 1M events).
                    Some(after) => {
                        args.push(Sql::Integer(seq_param(after.max(query.from_seq))));
                        format!(
                            "{in_window} UNION ALL SELECT {COLUMNS} FROM events WHERE seq > ?5 AND seq <= ?2
                             AND ({column} IS NULL OR {column} < ?3 OR {column} > ?4)"
                        )
                    }
                    None => in_window,
                }
            }
            (None, Some(after)) => {
                args[0] = Sql::Integer(seq_param(after.max(query.from_seq)));
                format!("SELECT {COLUMNS} FROM events WHERE {bounds}")
            }
            (None, None) => format!("SELECT {COLUMNS} FROM events WHERE {bounds}"),
        };
        // Pages need an order; a whole read takes the rows as the indices give them.
        let sql = match (query.limit, query.ordered) {
            (Some(limit), _) => format!("{sql} ORDER BY seq LIMIT {limit}"),
            (None, true) => format!("{sql} ORDER BY seq"),
            (None, false) => sql,
        };
        self.read(|conn| {
            let mut statement = conn.prepare_cached(&sql).map_err(read_err("read events"))?;
            let mut rows = statement.query(params_from_iter(args)).map_err(read_err("read events"))?;
            while let Some(row) = rows.next().map_err(read_err("read events"))? {
                let event = StoredEvent {
                    seq: count(row.get(0).map_err(read_err("read events"))?),
                    index: row.get(1).map_err(read_err("read events"))?,
                    event_id: row.get(2).map_err(read_err("read events"))?,
                    ingested: Timestamp::from_nanos(row.get(3).map_err(read_err("read events"))?),
                    document: row.get(4).map_err(read_err("read events"))?,
                };
                if !each(event) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn count_ingested_before(&self, cutoff: Timestamp, covered: u64) -> StoreResult<u64> {
        self.read(|conn| {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM events WHERE ingested < ?1 AND seq <= ?2",
                    params![nanos(cutoff), seq_param(covered)],
                    |r| r.get(0),
                )
                .map_err(write_err("retention"))?;
            Ok(count(n))
        })
    }

    fn remove_ingested_before(&self, cutoff: Timestamp, covered: u64) -> StoreResult<u64> {
        self.write(|conn| {
            let removed = conn
                .execute(
                    "DELETE FROM events WHERE ingested < ?1 AND seq <= ?2",
                    params![nanos(cutoff), seq_param(covered)],
                )
                .map_err(write_err("retention"))?;
            Ok(removed as u64)
        })
    }

    fn event_count(&self) -> StoreResult<u64> {
        self.read(|conn| {
            Ok(count(conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).map_err(read_err("read"))?))
        })
    }
}

fn alert_id(row: &Row<'_>, at: usize) -> rusqlite::Result<AlertId> {
    let bytes: Vec<u8> = row.get(at)?;
    let bytes = <[u8; 32]>::try_from(bytes)
        .map_err(|_| rusqlite::Error::InvalidColumnType(at, "id".into(), rusqlite::types::Type::Blob))?;
    Ok(AlertId::from_bytes(bytes))
}

fn id_bytes(id: &AlertId) -> &[u8] {
    id.as_bytes()
}

/// The `WHERE` clauses of an alert filter, and their parameters.
fn where_clause(filter: &AlertFilter) -> (String, Vec<Sql>) {
    let mut clauses = vec!["1 = 1".to_owned()];
    let mut args: Vec<Sql> = Vec::new();
    let mut add = |clause: &str, value: Sql| {
        args.push(value);
        clauses.push(format!("{clause} ?{}", args.len()));
    };
    if let Some(rule) = &filter.rule_id {
        add("rule_id =", Sql::Text(rule.clone()));
    }
    if let Some(severity) = &filter.severity {
        add("severity =", Sql::Text(severity.clone()));
    }
    if let Some(status) = filter.status {
        add("status =", Sql::Text(status.as_str().into()));
    }
    if let Some(since) = filter.since {
        add("created >=", Sql::Integer(nanos(since)));
    }
    if let Some(until) = filter.until {
        add("created <=", Sql::Integer(nanos(until)));
    }
    if filter.hide_building_blocks {
        clauses.push("building_block = 0".to_owned());
    }
    (clauses.join(" AND "), args)
}

/// A column holding what vigil never writes: read as an error, never as a default.
pub(crate) fn corrupt(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
}

fn status(text: &str, column: usize) -> rusqlite::Result<WorkflowStatus> {
    WorkflowStatus::parse(text).ok_or_else(|| corrupt(column, format!("unknown workflow status `{text}`")))
}

/// Reads the alert whose columns `id, rule_id, severity, created, status, doc` start the row,
/// with its history.
fn read_alert(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<StoredAlert> {
    let (alert, doc) = read_alert_text(conn, row)?;
    decode_alert(alert, &doc)
}

/// The alert of a row with its history and the workflow fields its document shows today, and
/// the stored document text, not decoded yet (its `document` is `Null`).
fn read_alert_text(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<(StoredAlert, String)> {
    let id = alert_id(row, 0)?;
    let mut history = Vec::new();
    let mut statement =
        conn.prepare_cached("SELECT at, by, status, note FROM alert_history WHERE alert_id = ?1 ORDER BY rowid")?;
    let mut rows = statement.query([id_bytes(&id)])?;
    while let Some(h) = rows.next()? {
        history.push(StatusChange {
            at: Timestamp::from_nanos(h.get(0)?),
            by: h.get(1)?,
            status: status(&h.get::<_, String>(2)?, 2)?,
            note: h.get(3)?,
        });
    }
    let alert = StoredAlert {
        id,
        rule_id: row.get(1)?,
        severity: row.get(2)?,
        created: Timestamp::from_nanos(row.get(3)?),
        status: status(&row.get::<_, String>(4)?, 4)?,
        history,
        document: Value::Null,
    };
    Ok((alert, row.get(5)?))
}

/// The workflow fields an alert's document shows today (the stored document is the alert as
/// created).
fn workflow_fields(alert: &StoredAlert) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("kibana.alert.workflow_status".into(), json!(alert.status.as_str()));
    if let Some(last) = alert.history.last() {
        fields.insert("kibana.alert.workflow_user".into(), json!(last.by));
        fields.insert("kibana.alert.workflow_status_updated_at".into(), json!(last.at.to_string()));
        if let Some(note) = &last.note {
            fields.insert("kibana.alert.workflow_reason".into(), json!(note));
        }
    }
    fields
}

/// `alert` with its document decoded from `doc`, its workflow fields today's.
fn decode_alert(mut alert: StoredAlert, doc: &str) -> rusqlite::Result<StoredAlert> {
    let id = alert.id;
    let mut document: Value =
        serde_json::from_str(doc).map_err(|e| corrupt(5, format!("alert {id}: its document is not JSON: {e}")))?;
    if let Value::Object(map) = &mut document {
        map.extend(workflow_fields(&alert));
    }
    alert.document = document;
    Ok(alert)
}

/// Moves alerts to a status with a history entry each, inside the caller's transaction;
/// returns those that exist (and changed, unless already in that status).
pub(crate) fn set_status(
    tx: &rusqlite::Transaction<'_>,
    ids: &[AlertId],
    change: &StatusChange,
) -> StoreResult<Vec<AlertId>> {
    let mut update =
        tx.prepare_cached("UPDATE alerts SET status = ?2 WHERE id = ?1").map_err(write_err("update alerts"))?;
    let mut history = tx
        .prepare_cached("INSERT INTO alert_history (alert_id, at, by, status, note) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(write_err("update alerts"))?;
    let mut changed = Vec::new();
    for id in ids {
        if update.execute(params![id_bytes(id), change.status.as_str()]).map_err(write_err("update alerts"))? == 1 {
            history
                .execute(params![id_bytes(id), nanos(change.at), change.by, change.status.as_str(), change.note])
                .map_err(write_err("update alerts"))?;
            changed.push(*id);
        }
    }
    Ok(changed)
}

/// Sets a rule's switch, keeping the rest of its state, inside the caller's transaction.
pub(crate) fn set_enabled(tx: &rusqlite::Transaction<'_>, rule_id: &str, enabled: bool) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO rule_state (rule_id, enabled) VALUES (?1, ?2)
         ON CONFLICT (rule_id) DO UPDATE SET enabled = excluded.enabled",
        params![rule_id, enabled],
    )
    .map_err(write_err("store the rule state"))?;
    Ok(())
}

impl AlertStore for Sqlite {
    fn existing(&self, ids: &[AlertId]) -> StoreResult<HashSet<AlertId>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT 1 FROM alerts WHERE id = ?1 UNION ALL SELECT 1 FROM suppressed_events WHERE id = ?1 LIMIT 1",
                )
                .map_err(read_err("read alerts"))?;
            let mut found = HashSet::new();
            for id in ids {
                if statement.exists([id_bytes(id)]).map_err(read_err("read alerts"))? {
                    found.insert(*id);
                }
            }
            Ok(found)
        })
    }

    fn commit_execution(
        &self,
        record: &ExecutionRecord,
        alerts: &[NewAlert],
        suppressed: &[Suppressed],
        state: &RuleState,
        notifications: &[NewNotification],
        memory: &MemoryUpdate,
    ) -> StoreResult<u64> {
        self.write(|conn| {
            let tx = conn.transaction().map_err(write_err("store the execution"))?;
            let mut created = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO alerts (id, rule_id, severity, created, event_time, event_seq, status, doc, building_block,
                         suppression_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
                    )
                    .map_err(write_err("store alerts"))?;
                for alert in alerts {
                    created += insert
                        .execute(params![
                            id_bytes(&alert.id),
                            alert.rule_id,
                            alert.severity,
                            nanos(record.started),
                            alert.event_time.map(nanos),
                            seq_param(alert.event_seq),
                            alert.document.to_string(),
                            alert.document.get("kibana.alert.building_block_type").is_some(),
                            alert.suppression_key
                        ])
                        .map_err(write_err("store alerts"))? as u64;
                }
            }
            {
                // The group's new events counted on its alert, and its last event time moved on.
                let mut update = tx
                    .prepare_cached(
                        "UPDATE alerts SET doc = json_set(doc,
                           '$.\"kibana.alert.suppression.docs_count\"',
                           coalesce(json_extract(doc, '$.\"kibana.alert.suppression.docs_count\"'), 0) + ?2,
                           '$.\"kibana.alert.suppression.end\"',
                           CASE WHEN ?3 IS NOT NULL AND ?3 > coalesce(json_extract(doc, '$.\"kibana.alert.suppression.end\"'), '')
                                THEN ?3 ELSE json_extract(doc, '$.\"kibana.alert.suppression.end\"') END)
                         WHERE id = ?1",
                    )
                    .map_err(write_err("store suppressed events"))?;
                let mut mark = tx
                    .prepare_cached("INSERT INTO suppressed_events (id, alert_id) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING")
                    .map_err(write_err("store suppressed events"))?;
                for group in suppressed {
                    let mut marked = 0;
                    for event in &group.events {
                        marked += mark
                            .execute(params![id_bytes(event), id_bytes(&group.id)])
                            .map_err(write_err("store suppressed events"))? as u64;
                    }
                    if group.into_existing && marked > 0 {
                        update
                            .execute(params![id_bytes(&group.id), seq_param(marked), group.end.map(|t| t.to_string())])
                            .map_err(write_err("store suppressed events"))?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO executions (id, rule_id, scheduled, started, window_from, window_to, seq_after, seq_to,
                 events, candidates, alerts, held_back, duration_ms, status, warnings, late, excepted, notifications, terms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    record.id,
                    record.rule_id,
                    nanos(record.scheduled),
                    nanos(record.started),
                    nanos(record.window.0),
                    nanos(record.window.1),
                    seq_param(record.seq.0),
                    seq_param(record.seq.1),
                    seq_param(record.events),
                    seq_param(record.candidates),
                    seq_param(record.alerts),
                    seq_param(record.held_back),
                    seq_param(record.duration_ms),
                    record.status.as_str(),
                    json!(record.warnings).to_string(),
                    seq_param(record.late),
                    json!(record.excepted).to_string(),
                    seq_param(record.notifications),
                    seq_param(record.terms),
                ],
            )
            .map_err(write_err("store the execution"))?;
            crate::outbox::queue(&tx, notifications)?;
            crate::memory::apply(&tx, memory)?;
            tx.execute(
                "INSERT INTO rule_state (rule_id, enabled, covered_seq, last_scheduled, backlog)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (rule_id) DO UPDATE SET covered_seq = excluded.covered_seq,
                 last_scheduled = excluded.last_scheduled, backlog = excluded.backlog",
                params![
                    state.rule_id,
                    state.enabled,
                    seq_param(state.covered_seq),
                    state.last_scheduled.map(nanos),
                    seq_param(state.backlog)
                ],
            )
            .map_err(write_err("store the rule state"))?;
            tx.commit().map_err(write_err("store the execution"))?;
            Ok(created)
        })
    }

    fn alerts(&self, filter: &AlertFilter, each: &mut dyn FnMut(StoredAlert) -> bool) -> StoreResult<()> {
        self.alerts_where(filter, &mut |_| true, each)
    }

    fn alerts_where(
        &self,
        filter: &AlertFilter,
        keep: &mut dyn FnMut(&[u8]) -> bool,
        each: &mut dyn FnMut(StoredAlert) -> bool,
    ) -> StoreResult<()> {
        let (clauses, args) = where_clause(filter);
        let limit = filter.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let order = match filter.order {
            AlertOrder::Newest => "created DESC, rowid DESC",
            AlertOrder::Oldest => "created, rowid",
            AlertOrder::Severity => {
                "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, created DESC, rowid DESC"
            }
            AlertOrder::Rule => "rule_id, created DESC, rowid DESC",
        };
        // A page is chosen on the `alerts_triage` index alone, skipping `offset` rows without
        // reading their documents; then only its rows are read.
        let sql = if filter.offset > 0 || filter.limit.is_some() {
            format!(
                "SELECT id, rule_id, severity, created, status, doc FROM alerts WHERE rowid IN
                 (SELECT rowid FROM alerts WHERE {clauses} ORDER BY {order} LIMIT {limit} OFFSET {})
                 ORDER BY {order}",
                filter.offset
            )
        } else {
            format!("SELECT id, rule_id, severity, created, status, doc FROM alerts WHERE {clauses} ORDER BY {order}")
        };
        self.read(|conn| {
            let mut statement = conn.prepare_cached(&sql).map_err(read_err("read alerts"))?;
            let mut rows = statement.query(params_from_iter(args)).map_err(read_err("read alerts"))?;
            let mut text = Vec::new();
            while let Some(row) = rows.next().map_err(read_err("read alerts"))? {
                let (alert, doc) = read_alert_text(conn, row).map_err(read_err("read alerts"))?;
                // What `keep` sees holds every field the decoded document will: the stored text
                // and today's workflow fields.
                text.clear();
                text.extend_from_slice(doc.as_bytes());
                serde_json::to_writer(&mut text, &workflow_fields(&alert))
                    .map_err(|e| StoreError::Read { what: "read alerts", reason: e.to_string() })?;
                if !keep(&text) {
                    continue;
                }
                if !each(decode_alert(alert, &doc).map_err(read_err("read alerts"))?) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn alert_count(&self, filter: &AlertFilter) -> StoreResult<u64> {
        let (clauses, args) = where_clause(filter);
        self.read(|conn| {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM alerts WHERE {clauses}"), params_from_iter(args), |r| {
                    r.get(0)
                })
                .map_err(read_err("read alerts"))?;
            Ok(count(n))
        })
    }

    fn alert(&self, id: &AlertId) -> StoreResult<Option<StoredAlert>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT id, rule_id, severity, created, status, doc FROM alerts WHERE id = ?1")
                .map_err(read_err("read alerts"))?;
            statement.query_row([id_bytes(id)], |row| read_alert(conn, row)).optional().map_err(read_err("read alerts"))
        })
    }

    fn alert_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<AlertId>> {
        // The ids from `prefix` followed by zeros to `prefix` followed by `f`s: a range of the
        // primary key.
        let bound = |fill: char| {
            let mut hex: String = prefix.chars().take(64).collect();
            hex.extend(std::iter::repeat_n(fill, 64 - hex.len()));
            AlertId::parse(&hex).map(|id| id.as_bytes().to_vec())
        };
        let (Some(low), Some(high)) = (bound('0'), bound('f')) else { return Ok(Vec::new()) };
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT id FROM alerts WHERE id BETWEEN ?1 AND ?2 ORDER BY id LIMIT ?3")
                .map_err(read_err("read alerts"))?;
            let rows = statement
                .query_map(rusqlite::params![low, high, i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                    let bytes: Vec<u8> = row.get(0)?;
                    Ok(<[u8; 32]>::try_from(bytes.as_slice()).ok().map(AlertId::from_bytes))
                })
                .map_err(read_err("read alerts"))?;
            let ids = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(read_err("read alerts"))?;
            Ok(ids.into_iter().flatten().collect())
        })
    }

    fn set_status(&self, ids: &[AlertId], change: &StatusChange) -> StoreResult<Vec<AlertId>> {
        self.transaction("update alerts", |tx| set_status(tx, ids, change))
    }

    fn alert_counts(&self) -> StoreResult<Vec<(WorkflowStatus, u64)>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT status, count(*) FROM alerts GROUP BY status")
                .map_err(read_err("read alerts"))?;
            let rows = statement
                .query_map([], |r| Ok((status(&r.get::<_, String>(0)?, 0)?, count(r.get(1)?))))
                .map_err(read_err("read alerts"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(read_err("read alerts"))
        })
    }

    fn suppressing(&self, rule_id: &str, key: &str, since: Timestamp) -> StoreResult<Option<AlertId>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT id FROM alerts WHERE rule_id = ?1 AND suppression_key = ?2 AND created >= ?3
                     AND status != 'closed' ORDER BY created DESC LIMIT 1",
                )
                .map_err(read_err("read alerts"))?;
            statement
                .query_row(params![rule_id, key, nanos(since)], |r| alert_id(r, 0))
                .optional()
                .map_err(read_err("read alerts"))
        })
    }

    fn activity(&self, since: Timestamp, bucket: i64) -> StoreResult<Activity> {
        let bucket = bucket.max(1);
        self.read(|conn| {
            let mut activity = Activity::default();
            // One ordered pass over `alerts_counts` gives both the severities and the rules.
            let mut statement = conn
                .prepare_cached(
                    "SELECT rule_id, status, severity, count(*) FROM alerts GROUP BY rule_id, status, severity ORDER BY rule_id",
                )
                .map_err(read_err("read alerts"))?;
            let rows = statement
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, status(&r.get::<_, String>(1)?, 1)?, r.get::<_, String>(2)?, count(r.get(3)?)))
                })
                .map_err(read_err("read alerts"))?;
            let mut by_severity: HashMap<(String, WorkflowStatus), u64> = HashMap::new();
            for row in rows {
                let (rule_id, status, severity, n) = row.map_err(read_err("read alerts"))?;
                *by_severity.entry((severity, status)).or_default() += n;
                match activity.by_rule.last_mut() {
                    Some((last, open, all)) if *last == rule_id => {
                        *open += if status == WorkflowStatus::Open { n } else { 0 };
                        *all += n;
                    }
                    _ => activity.by_rule.push((rule_id, if status == WorkflowStatus::Open { n } else { 0 }, n)),
                }
            }
            activity.by_severity = by_severity.into_iter().map(|((severity, status), n)| (severity, status, n)).collect();
            activity.by_severity.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
            activity.by_rule.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
            let mut statement = conn
                .prepare_cached(
                    "SELECT created / ?2 * ?2 AS bucket, severity, count(*) FROM alerts WHERE created >= ?1
                     GROUP BY bucket, severity ORDER BY bucket",
                )
                .map_err(read_err("read alerts"))?;
            let rows = statement
                .query_map(params![nanos(since), bucket], |r| {
                    Ok((Timestamp::from_nanos(r.get(0)?), r.get(1)?, count(r.get(2)?)))
                })
                .map_err(read_err("read alerts"))?;
            activity.over_time = rows.collect::<rusqlite::Result<_>>().map_err(read_err("read alerts"))?;
            let (executions, failed, truncated, late) = conn
                .query_row(
                    "SELECT count(*), coalesce(sum(status = 'failed'), 0), coalesce(sum(held_back > 0), 0),
                     coalesce(sum(late), 0) FROM executions WHERE started >= ?1",
                    [nanos(since)],
                    |r| Ok((count(r.get(0)?), count(r.get(1)?), count(r.get(2)?), count(r.get(3)?))),
                )
                .map_err(read_err("read executions"))?;
            (activity.executions, activity.failed, activity.truncated, activity.late) =
                (executions, failed, truncated, late);
            Ok(activity)
        })
    }
}

const RULE_STATE: &str = "SELECT rule_id, enabled, covered_seq, last_scheduled, backlog FROM rule_state";

/// A row of [`RULE_STATE`].
fn read_rule_state(r: &Row<'_>) -> rusqlite::Result<RuleState> {
    Ok(RuleState {
        rule_id: r.get(0)?,
        enabled: r.get(1)?,
        covered_seq: count(r.get(2)?),
        last_scheduled: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_nanos),
        backlog: count(r.get(4)?),
    })
}

impl RuleStates for Sqlite {
    fn rule_state(&self, rule_id: &str) -> StoreResult<RuleState> {
        self.read(|conn| {
            let state = conn
                .query_row(&format!("{RULE_STATE} WHERE rule_id = ?1"), [rule_id], read_rule_state)
                .optional()
                .map_err(read_err("read rule state"))?;
            Ok(state.unwrap_or_else(|| RuleState { rule_id: rule_id.to_owned(), ..RuleState::default() }))
        })
    }

    fn rule_states(&self) -> StoreResult<HashMap<String, RuleState>> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(RULE_STATE).map_err(read_err("read rule state"))?;
            let rows = statement.query_map([], read_rule_state).map_err(read_err("read rule state"))?;
            rows.map(|r| r.map(|s| (s.rule_id.clone(), s)))
                .collect::<rusqlite::Result<_>>()
                .map_err(read_err("read rule state"))
        })
    }

    fn set_enabled(&self, rule_id: &str, enabled: bool) -> StoreResult<()> {
        self.transaction("store the rule state", |tx| set_enabled(tx, rule_id, enabled))
    }

    fn executions(&self, rule_id: &str, limit: usize) -> StoreResult<Vec<ExecutionRecord>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(&format!("{EXECUTION} WHERE rule_id = ?1 ORDER BY started DESC, rowid DESC LIMIT ?2"))
                .map_err(read_err("read executions"))?;
            let rows = statement
                .query_map(params![rule_id, i64::try_from(limit).unwrap_or(i64::MAX)], read_execution)
                .map_err(read_err("read executions"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(read_err("read executions"))
        })
    }

    fn alerts_for_start(&self, rule_id: &str, scheduled: Timestamp, since: Timestamp) -> StoreResult<u64> {
        self.read(|conn| {
            // By the (rule_id, started) index.
            let sum: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(alerts), 0) FROM executions WHERE rule_id = ?1 AND started >= ?2 AND scheduled = ?3",
                )
                .and_then(|mut s| s.query_row(params![rule_id, nanos(since), nanos(scheduled)], |r| r.get(0)))
                .map_err(read_err("read executions"))?;
            Ok(count(sum))
        })
    }

    fn last_executions(&self) -> StoreResult<HashMap<String, ExecutionRecord>> {
        self.read(|conn| {
            // The newest of each rule, by the (rule_id, started) index.
            let mut statement = conn
                .prepare_cached(&format!(
                    "{EXECUTION} AS e WHERE rowid = (SELECT rowid FROM executions WHERE rule_id = e.rule_id
                     ORDER BY started DESC, rowid DESC LIMIT 1)"
                ))
                .map_err(read_err("read executions"))?;
            let rows = statement.query_map([], read_execution).map_err(read_err("read executions"))?;
            rows.map(|r| r.map(|e| (e.rule_id.clone(), e)))
                .collect::<rusqlite::Result<_>>()
                .map_err(read_err("read executions"))
        })
    }
}

const EXECUTION: &str = "SELECT id, rule_id, scheduled, started, window_from, window_to, seq_after, seq_to, events,
     candidates, alerts, held_back, duration_ms, status, warnings, late, excepted, notifications, terms FROM executions";

/// A row of [`EXECUTION`].
fn read_execution(r: &Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    let at = |i: usize| -> rusqlite::Result<Timestamp> { Ok(Timestamp::from_nanos(r.get(i)?)) };
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(count(r.get(i)?)) };
    let warnings: String = r.get(14)?;
    let status: String = r.get(13)?;
    Ok(ExecutionRecord {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        scheduled: at(2)?,
        started: at(3)?,
        window: (at(4)?, at(5)?),
        seq: (n(6)?, n(7)?),
        events: n(8)?,
        candidates: n(9)?,
        alerts: n(10)?,
        held_back: n(11)?,
        duration_ms: n(12)?,
        status: ExecutionStatus::parse(&status)
            .ok_or_else(|| corrupt(13, format!("unknown execution status `{status}`")))?,
        warnings: serde_json::from_str(&warnings)
            .map_err(|e| corrupt(14, format!("execution warnings are not a JSON list: {e}")))?,
        late: n(15)?,
        excepted: serde_json::from_str(&r.get::<_, String>(16)?)
            .map_err(|e| corrupt(16, format!("execution exception counts are not a JSON list: {e}")))?,
        notifications: n(17)?,
        terms: n(18)?,
    })
}
