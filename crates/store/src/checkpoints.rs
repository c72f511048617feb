//! Where pulls from the Office 365 Management Activity API stand, per tenant and content type:
//! how far the content listing is complete, and which content blobs were taken.
//!
//! Only the service's poller reads these, so they are declared here rather than in
//! `engine::storage`.

use std::collections::HashSet;

use ecs::date::Timestamp;
use engine::storage::StoreResult;
use rusqlite::{OptionalExtension, params};

use crate::sqlite::{Sqlite, read_err, write_err};

/// What became of a content blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Taken {
    /// Fetched; this many records were handed to the event log (durable before this is kept).
    Records(u64),
    /// The API said it had expired.
    Expired,
    /// It was not a JSON array of records.
    Malformed,
}

/// Where one tenant's content type stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The tenant (directory) id.
    pub tenant: String,
    /// `Audit.Exchange` and so on.
    pub content_type: String,
    /// Every blob made available before this was listed and taken.
    pub listed_to: Option<Timestamp>,
    /// The newest `contentCreated` among the blobs taken.
    pub newest: Option<Timestamp>,
    /// Blobs taken, among those remembered (made available in the last 7 days or so).
    pub blobs: u64,
    /// Records handed to the event log from those blobs.
    pub records: u64,
}

/// Pull checkpoints: the listing watermark and the blobs taken.
pub trait Checkpoints: Send + Sync {
    /// How far the listing of `content_type` is complete, if it ever was.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn listed_to(&self, tenant: &str, content_type: &str) -> StoreResult<Option<Timestamp>>;

    /// Records that every blob made available before `to` was taken.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn set_listed_to(&self, tenant: &str, content_type: &str, to: Timestamp) -> StoreResult<()>;

    /// The ids of the blobs taken that were made available at or after `since`.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn taken_since(&self, tenant: &str, content_type: &str, since: Timestamp) -> StoreResult<HashSet<String>>;

    /// Records a blob as taken; called once its records are durable.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn take(
        &self,
        tenant: &str,
        content_type: &str,
        content_id: &str,
        created: Timestamp,
        taken: Taken,
    ) -> StoreResult<()>;

    /// Forgets blobs made available before `before` (the API lists nothing older than 7 days);
    /// returns how many.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn forget_taken(&self, before: Timestamp) -> StoreResult<u64>;

    /// Every tenant and content type pulled so far.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
}

impl Checkpoints for Sqlite {
    fn listed_to(&self, tenant: &str, content_type: &str) -> StoreResult<Option<Timestamp>> {
        self.read(|conn| {
            conn.query_row(
                "SELECT listed_to FROM o365_checkpoint WHERE tenant = ?1 AND content_type = ?2",
                params![tenant, content_type],
                |r| r.get(0).map(Timestamp::from_nanos),
            )
            .optional()
            .map_err(read_err("read the o365 checkpoint"))
        })
    }

    fn set_listed_to(&self, tenant: &str, content_type: &str, to: Timestamp) -> StoreResult<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO o365_checkpoint (tenant, content_type, listed_to) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, content_type) DO UPDATE SET listed_to = max(listed_to, excluded.listed_to)",
                params![tenant, content_type, to.as_nanos()],
            )
            .map_err(write_err("write the o365 checkpoint"))?;
            Ok(())
        })
    }

    fn taken_since(&self, tenant: &str, content_type: &str, since: Timestamp) -> StoreResult<HashSet<String>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT content_id FROM o365_content WHERE tenant = ?1 AND content_type = ?2 AND created >= ?3",
                )
                .map_err(read_err("read the o365 content taken"))?;
            let rows = statement
                .query_map(params![tenant, content_type, since.as_nanos()], |r| r.get(0))
                .map_err(read_err("read the o365 content taken"))?;
            rows.collect::<rusqlite::Result<HashSet<String>>>().map_err(read_err("read the o365 content taken"))
        })
    }

    fn take(
        &self,
        tenant: &str,
        content_type: &str,
        content_id: &str,
        created: Timestamp,
        taken: Taken,
    ) -> StoreResult<()> {
        let (outcome, records) = match taken {
            Taken::Records(n) => ("records", i64::try_from(n).unwrap_or(i64::MAX)),
            Taken::Expired => ("expired", 0),
            Taken::Malformed => ("malformed", 0),
        };
        self.write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO o365_content (tenant, content_type, content_id, created, taken, outcome, records)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![tenant, content_type, content_id, created.as_nanos(), Timestamp::now().as_nanos(), outcome, records],
            )
            .map_err(write_err("record the o365 content taken"))?;
            Ok(())
        })
    }

    fn forget_taken(&self, before: Timestamp) -> StoreResult<u64> {
        self.write(|conn| {
            let n = conn
                .execute("DELETE FROM o365_content WHERE created < ?1", [before.as_nanos()])
                .map_err(write_err("forget old o365 content"))?;
            Ok(n as u64)
        })
    }

    fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT k.tenant, k.content_type, c.listed_to, max(o.created), count(o.content_id),
                            coalesce(sum(o.records), 0)
                     FROM (SELECT tenant, content_type FROM o365_checkpoint
                           UNION SELECT tenant, content_type FROM o365_content) k
                     LEFT JOIN o365_checkpoint c ON c.tenant = k.tenant AND c.content_type = k.content_type
                     LEFT JOIN o365_content o ON o.tenant = k.tenant AND o.content_type = k.content_type
                     GROUP BY k.tenant, k.content_type ORDER BY k.tenant, k.content_type",
                )
                .map_err(read_err("read the o365 checkpoints"))?;
            let rows = statement
                .query_map([], |r| {
                    Ok(Checkpoint {
                        tenant: r.get(0)?,
                        content_type: r.get(1)?,
                        listed_to: r.get::<_, Option<i64>>(2)?.map(Timestamp::from_nanos),
                        newest: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_nanos),
                        blobs: r.get::<_, i64>(4)?.max(0) as u64,
                        records: r.get::<_, i64>(5)?.max(0) as u64,
                    })
                })
                .map_err(read_err("read the o365 checkpoints"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(read_err("read the o365 checkpoints"))
        })
    }
}
