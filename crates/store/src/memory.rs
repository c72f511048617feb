//! What threshold and new terms rules remember between executions: a new terms rule's index of
//! when each term was seen, and a threshold rule's signal history.

use std::collections::HashMap;

use ecs::date::Timestamp;
use engine::storage::{MemoryUpdate, RuleMemory, StoreError, StoreResult, TermsIndex};
use rusqlite::{OptionalExtension, params};

use crate::sqlite::{Sqlite, count, read_err, seq_param, write_err};

/// How many terms one statement reads.
const TERMS_PER_READ: usize = 500;

/// Applies an execution's changes to its rule's memory, in the execution's transaction.
pub(crate) fn apply(tx: &rusqlite::Transaction<'_>, update: &MemoryUpdate) -> StoreResult<()> {
    if let Some(terms) = &update.terms {
        let fail = write_err("store the new terms index");
        if terms.rebuilt {
            tx.execute("DELETE FROM terms_seen WHERE rule_id = ?1", [&terms.rule_id]).map_err(&fail)?;
        }
        tx.execute(
            "INSERT INTO terms_index (rule_id, fingerprint, indexed_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (rule_id) DO UPDATE SET fingerprint = excluded.fingerprint, indexed_seq = excluded.indexed_seq",
            params![terms.rule_id, terms.index.fingerprint, seq_param(terms.index.indexed_seq)],
        )
        .map_err(&fail)?;
        let mut upsert = tx
            .prepare_cached(
                "INSERT INTO terms_seen (rule_id, term, last, times) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (rule_id, term) DO UPDATE SET last = excluded.last, times = excluded.times",
            )
            .map_err(&fail)?;
        for (term, times) in &terms.seen {
            let Some(&last) = times.last() else { continue };
            let text = serde_json::to_string(times).unwrap_or_default();
            upsert.execute(params![terms.rule_id, term, last, text]).map_err(&fail)?;
        }
        tx.execute(
            "DELETE FROM terms_seen WHERE rule_id = ?1 AND last < ?2",
            params![terms.rule_id, terms.forget_before],
        )
        .map_err(&fail)?;
    }
    if let Some(threshold) = &update.threshold {
        let fail = write_err("store the threshold history");
        let mut upsert = tx
            .prepare_cached(
                "INSERT INTO threshold_history (rule_id, key, last_signal) VALUES (?1, ?2, ?3)
                 ON CONFLICT (rule_id, key) DO UPDATE SET last_signal = max(last_signal, excluded.last_signal)",
            )
            .map_err(&fail)?;
        for (key, last) in &threshold.alerted {
            upsert.execute(params![threshold.rule_id, key, last.as_nanos()]).map_err(&fail)?;
        }
        tx.execute(
            "DELETE FROM threshold_history WHERE rule_id = ?1 AND last_signal < ?2",
            params![threshold.rule_id, threshold.forget_before.as_nanos()],
        )
        .map_err(&fail)?;
    }
    Ok(())
}

impl RuleMemory for Sqlite {
    fn terms_index(&self, rule_id: &str) -> StoreResult<Option<TermsIndex>> {
        self.read(|conn| {
            conn.query_row("SELECT fingerprint, indexed_seq FROM terms_index WHERE rule_id = ?1", [rule_id], |row| {
                Ok(TermsIndex { fingerprint: row.get(0)?, indexed_seq: count(row.get(1)?) })
            })
            .optional()
            .map_err(read_err("read the new terms index"))
        })
    }

    fn seen(&self, rule_id: &str, terms: &[String]) -> StoreResult<HashMap<String, Vec<i64>>> {
        self.read(|conn| {
            let fail = read_err("read the new terms index");
            let mut out = HashMap::new();
            for chunk in terms.chunks(TERMS_PER_READ) {
                let marks = vec!["?"; chunk.len()].join(",");
                let sql = format!("SELECT term, times FROM terms_seen WHERE rule_id = ? AND term IN ({marks})");
                let mut statement = conn.prepare_cached(&sql).map_err(&fail)?;
                let args = std::iter::once(rule_id).chain(chunk.iter().map(String::as_str));
                let mut rows = statement.query(rusqlite::params_from_iter(args)).map_err(&fail)?;
                while let Some(row) = rows.next().map_err(&fail)? {
                    let term: String = row.get(0).map_err(&fail)?;
                    let times: String = row.get(1).map_err(&fail)?;
                    let times: Vec<i64> = serde_json::from_str(&times)
                        .map_err(|e| StoreError::Corrupt(format!("the times of a new term of rule {rule_id}: {e}")))?;
                    out.insert(term, times);
                }
            }
            Ok(out)
        })
    }

    fn threshold_history(&self, rule_id: &str) -> StoreResult<HashMap<String, Timestamp>> {
        self.read(|conn| {
            let fail = read_err("read the threshold history");
            let mut statement = conn
                .prepare_cached("SELECT key, last_signal FROM threshold_history WHERE rule_id = ?1")
                .map_err(&fail)?;
            let rows = statement
                .query_map([rule_id], |row| Ok((row.get::<_, String>(0)?, Timestamp::from_nanos(row.get(1)?))))
                .map_err(&fail)?;
            rows.collect::<Result<_, _>>().map_err(fail)
        })
    }
}
