//! The notifications outbox: queued with the execution that caused them, marked as they are
//! sent.

use ecs::date::Timestamp;
use engine::storage::{
    Delivery, NewNotification, Notification, NotificationCounts, NotificationFilter, Outbox, StoreResult,
};
use rusqlite::{OptionalExtension, Row, params, params_from_iter, types::Value as Sql};

use crate::sqlite::{Sqlite, corrupt, count, nanos, read_err, seq_param, write_err};

/// Queues `notifications` in the execution's transaction; a key already queued for a connector
/// is not queued again.
pub(crate) fn queue(tx: &rusqlite::Transaction<'_>, notifications: &[NewNotification]) -> StoreResult<()> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO notifications (key, connector, rule_id, source, execution_id, message, created, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (connector, key) DO NOTHING",
        )
        .map_err(write_err("queue notifications"))?;
    for n in notifications {
        insert
            .execute(params![
                n.key,
                n.connector,
                n.rule_id,
                n.source,
                n.execution_id,
                n.message.to_string(),
                nanos(n.created)
            ])
            .map_err(write_err("queue notifications"))?;
    }
    Ok(())
}

const NOTIFICATION: &str = "SELECT id, key, connector, rule_id, source, execution_id, message, created, status,
    attempts, next_attempt, last_error, sent FROM notifications";

fn read_notification(r: &Row<'_>) -> rusqlite::Result<Notification> {
    let message: String = r.get(6)?;
    let status: String = r.get(8)?;
    Ok(Notification {
        id: count(r.get(0)?),
        queued: NewNotification {
            key: r.get(1)?,
            connector: r.get(2)?,
            rule_id: r.get(3)?,
            source: r.get(4)?,
            execution_id: r.get(5)?,
            message: serde_json::from_str(&message)
                .map_err(|e| corrupt(6, format!("a notification is not JSON: {e}")))?,
            created: Timestamp::from_nanos(r.get(7)?),
        },
        delivery: Delivery::parse(&status).ok_or_else(|| corrupt(8, format!("unknown delivery state `{status}`")))?,
        attempts: u32::try_from(r.get::<_, i64>(9)?).unwrap_or(u32::MAX),
        next_attempt: Timestamp::from_nanos(r.get(10)?),
        last_error: r.get(11)?,
        sent: r.get::<_, Option<i64>>(12)?.map(Timestamp::from_nanos),
    })
}

impl Sqlite {
    /// The notification numbered `id` in this store's outbox.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub fn notification(&self, id: u64) -> StoreResult<Option<Notification>> {
        self.read(|conn| {
            conn.query_row(&format!("{NOTIFICATION} WHERE id = ?1"), [seq_param(id)], read_notification)
                .optional()
                .map_err(read_err("read notifications"))
        })
    }

    /// The notification queued for `connector` under `key` (its identity on every node of a
    /// cluster, where numbers are each store's own).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub fn notification_for(&self, connector: &str, key: &str) -> StoreResult<Option<Notification>> {
        self.read(|conn| {
            conn.query_row(
                &format!("{NOTIFICATION} WHERE connector = ?1 AND key = ?2"),
                params![connector, key],
                read_notification,
            )
            .optional()
            .map_err(read_err("read notifications"))
        })
    }
}

impl Outbox for Sqlite {
    fn due(&self, connector: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<Notification>> {
        self.read(|conn| {
            let sql = format!(
                "{NOTIFICATION} WHERE connector = ?1 AND status = 'pending' AND next_attempt <= ?2 ORDER BY next_attempt, id LIMIT ?3"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(read_err("read notifications"))?;
            let rows = statement
                .query_map(params![connector, nanos(now), seq_param(limit as u64)], read_notification)
                .map_err(read_err("read notifications"))?;
            rows.collect::<Result<_, _>>().map_err(read_err("read notifications"))
        })
    }

    fn delivered(&self, id: u64, at: Timestamp) -> StoreResult<()> {
        self.transaction("mark a notification sent", |tx| {
            tx.execute(
                "UPDATE notifications SET status = 'sent', sent = ?2, attempts = attempts + 1, last_error = NULL
                 WHERE id = ?1",
                params![seq_param(id), nanos(at)],
            )
            .map_err(write_err("mark a notification sent"))?;
            Ok(())
        })
    }

    fn attempt_failed(&self, id: u64, error: &str, retry: Option<Timestamp>) -> StoreResult<()> {
        self.transaction("record a failed notification", |tx| {
            tx.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2,
                 status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
                 next_attempt = coalesce(?3, next_attempt) WHERE id = ?1",
                params![seq_param(id), error, retry.map(nanos)],
            )
            .map_err(write_err("record a failed notification"))?;
            Ok(())
        })
    }

    fn retry(&self, id: u64, now: Timestamp) -> StoreResult<bool> {
        self.transaction("retry a notification", |tx| {
            // Queued afresh: the retry period starts again from now.
            let changed = tx
                .execute(
                    "UPDATE notifications SET status = 'pending', next_attempt = ?2, created = ?2
                     WHERE id = ?1 AND status = 'failed'",
                    params![seq_param(id), nanos(now)],
                )
                .map_err(write_err("retry a notification"))?;
            Ok(changed == 1)
        })
    }

    fn notifications(&self, filter: &NotificationFilter) -> StoreResult<Vec<Notification>> {
        let mut clauses = vec!["1 = 1".to_owned()];
        let mut args: Vec<Sql> = Vec::new();
        let mut arg = |clause: &str, value: Sql| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(delivery) = filter.delivery {
            arg("status = ?", Sql::Text(delivery.as_str().to_owned()));
        }
        if let Some(connector) = &filter.connector {
            arg("connector = ?", Sql::Text(connector.clone()));
        }
        if let Some(rule_id) = &filter.rule_id {
            arg("rule_id = ?", Sql::Text(rule_id.clone()));
        }
        if let Some(before) = filter.before {
            arg("id < ?", Sql::Integer(seq_param(before)));
        }
        let sql = format!("{NOTIFICATION} WHERE {} ORDER BY id DESC LIMIT {}", clauses.join(" AND "), filter.limit);
        self.read(|conn| {
            let mut statement = conn.prepare(&sql).map_err(read_err("read notifications"))?;
            let rows = statement
                .query_map(params_from_iter(args), read_notification)
                .map_err(read_err("read notifications"))?;
            rows.collect::<Result<_, _>>().map_err(read_err("read notifications"))
        })
    }

    fn notification_counts(&self) -> StoreResult<NotificationCounts> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT connector, status, count(*) FROM notifications GROUP BY connector, status ORDER BY 1, 2",
                )
                .map_err(read_err("count notifications"))?;
            let rows = statement
                .query_map([], |r| {
                    let status: String = r.get(1)?;
                    let delivery = Delivery::parse(&status)
                        .ok_or_else(|| corrupt(1, format!("unknown delivery state `{status}`")))?;
                    Ok((r.get::<_, String>(0)?, delivery, count(r.get(2)?)))
                })
                .map_err(read_err("count notifications"))?;
            let counts = rows.collect::<Result<_, _>>().map_err(read_err("count notifications"))?;
            let oldest = conn
                .query_row("SELECT min(created) FROM notifications WHERE status = 'pending'", [], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .map_err(read_err("count notifications"))?
                .map(Timestamp::from_nanos);
            Ok(NotificationCounts { by_connector: counts, oldest_pending: oldest })
        })
    }

    fn last_queued(&self, rule_id: &str, source: &str) -> StoreResult<Option<Timestamp>> {
        self.read(|conn| {
            conn.query_row(
                "SELECT max(created) FROM notifications WHERE rule_id = ?1 AND source = ?2",
                params![rule_id, source],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|t| t.flatten().map(Timestamp::from_nanos))
            .map_err(read_err("read notifications"))
        })
    }
}
