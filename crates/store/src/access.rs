//! Who may use the service, and what they changed: API keys and the audit trail.
//!
//! The engine never reads these, so they are declared here rather than in `engine::storage`.

use ecs::date::Timestamp;
use engine::AlertId;
use engine::storage::{StatusChange, StoreError, StoreResult};
use rusqlite::{OptionalExtension, params};

use crate::sqlite::{Sqlite, read_err, write_err};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// Send events (`/_bulk`, `POST /api/v1/events`), nothing else.
    Ingest,
    /// Read everything and triage alerts.
    Analyst,
    /// Everything: rules, keys, settings.
    Admin,
}

impl Role {
    /// `ingest`, `analyst` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Reads `ingest`, `analyst` or `admin`.
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "ingest" => Role::Ingest,
            "analyst" => Role::Analyst,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// An API key as stored: everything but its secret.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    /// Its public identifier (the part of the token before the secret).
    pub id: String,
    /// What it is for, for people.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created: Timestamp,
    /// When it was revoked, if it was.
    pub revoked: Option<Timestamp>,
}

/// One change, for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// Who: the key's name and id (`alice (k3f9...)`), or `vigil keys` for local changes.
    pub actor: String,
    /// What: `rule.disable`, `alert.status`, `key.create`...
    pub action: String,
    /// On what: a rule id, alert ids, a key id.
    pub target: String,
    /// Anything else worth keeping (the new status, a note).
    pub detail: Option<String>,
}

/// API keys, the audit trail, and the changes the audit trail records, each stored in one
/// transaction with its entry: a change is never stored without its entry, nor an entry
/// without its change.
pub trait Access: Send + Sync {
    /// Stores a new key with the digest of its secret, and `audit`.
    ///
    /// # Errors
    ///
    /// When the store cannot write, or the id is taken; nothing is stored then.
    fn add_key(&self, key: &ApiKey, digest: &[u8; 32], audit: &AuditEntry) -> StoreResult<()>;

    /// A key and the digest of its secret, by id.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn key(&self, id: &str) -> StoreResult<Option<(ApiKey, [u8; 32])>>;

    /// Every key, revoked ones too, oldest first.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn keys(&self) -> StoreResult<Vec<ApiKey>>;

    /// Revokes a key, with `audit`; returns whether a live key had that id (the entry is
    /// stored only then).
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn revoke_key(&self, id: &str, at: Timestamp, audit: &AuditEntry) -> StoreResult<bool>;

    /// Moves alerts to a workflow status (as [`engine::storage::AlertStore::set_status`]) and
    /// stores `audit` with the alerts that changed as its target (their ids, comma-separated),
    /// if any did; returns them.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn set_status_audited(
        &self,
        ids: &[AlertId],
        change: &StatusChange,
        audit: &AuditEntry,
    ) -> StoreResult<Vec<AlertId>>;

    /// Turns a rule on or off (as [`engine::storage::RuleStates::set_enabled`]), with `audit`.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn set_enabled_audited(&self, rule_id: &str, enabled: bool, audit: &AuditEntry) -> StoreResult<()>;

    /// Appends to the audit trail.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn audit(&self, entry: &AuditEntry) -> StoreResult<()>;

    /// The newest `limit` audit entries, newest first.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn audit_trail(&self, limit: usize) -> StoreResult<Vec<AuditEntry>>;
}

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let role: String = r.get(2)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).ok_or_else(|| crate::sqlite::corrupt(2, format!("unknown role `{role}`")))?,
        created: Timestamp::from_nanos(r.get(3)?),
        revoked: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_nanos),
    })
}

/// Appends `entry` to the audit trail, inside the caller's transaction.
pub(crate) fn record(tx: &rusqlite::Transaction<'_>, entry: &AuditEntry) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![entry.at.as_nanos(), entry.actor, entry.action, entry.target, entry.detail],
    )
    .map_err(write_err("write the audit trail"))?;
    Ok(())
}

impl Access for Sqlite {
    fn add_key(&self, key: &ApiKey, digest: &[u8; 32], audit: &AuditEntry) -> StoreResult<()> {
        self.transaction("store the key", |tx| {
            tx.execute(
                "INSERT INTO api_keys (id, name, role, hash, created, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.id,
                    key.name,
                    key.role.as_str(),
                    &digest[..],
                    key.created.as_nanos(),
                    key.revoked.map(Timestamp::as_nanos)
                ],
            )
            .map_err(write_err("store the key"))?;
            record(tx, audit)
        })
    }

    fn key(&self, id: &str) -> StoreResult<Option<(ApiKey, [u8; 32])>> {
        self.read(|conn| {
            let found = conn
                .query_row("SELECT id, name, role, created, revoked, hash FROM api_keys WHERE id = ?1", [id], |r| {
                    Ok((key_from_row(r)?, r.get::<_, Vec<u8>>(5)?))
                })
                .optional()
                .map_err(read_err("read keys"))?;
            match found {
                None => Ok(None),
                Some((key, hash)) => {
                    let digest = <[u8; 32]>::try_from(hash)
                        .map_err(|_| StoreError::Corrupt(format!("key {id}: its stored digest is not 32 bytes")))?;
                    Ok(Some((key, digest)))
                }
            }
        })
    }

    fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT id, name, role, created, revoked FROM api_keys ORDER BY created, id")
                .map_err(read_err("read keys"))?;
            let rows = statement.query_map([], key_from_row).map_err(read_err("read keys"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(read_err("read keys"))
        })
    }

    fn revoke_key(&self, id: &str, at: Timestamp, audit: &AuditEntry) -> StoreResult<bool> {
        self.transaction("revoke the key", |tx| {
            let changed = tx
                .execute(
                    "UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                    params![id, at.as_nanos()],
                )
                .map_err(write_err("revoke the key"))?;
            if changed == 1 {
                record(tx, audit)?;
            }
            Ok(changed == 1)
        })
    }

    fn set_status_audited(
        &self,
        ids: &[AlertId],
        change: &StatusChange,
        audit: &AuditEntry,
    ) -> StoreResult<Vec<AlertId>> {
        self.transaction("update alerts", |tx| {
            let changed = crate::sqlite::set_status(tx, ids, change)?;
            if !changed.is_empty() {
                let target = changed.iter().map(AlertId::to_string).collect::<Vec<_>>().join(",");
                record(tx, &AuditEntry { target, ..audit.clone() })?;
            }
            Ok(changed)
        })
    }

    fn set_enabled_audited(&self, rule_id: &str, enabled: bool, audit: &AuditEntry) -> StoreResult<()> {
        self.transaction("store the rule state", |tx| {
            crate::sqlite::set_enabled(tx, rule_id, enabled)?;
            record(tx, audit)
        })
    }

    fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.transaction("write the audit trail", |tx| record(tx, entry))
    }

    fn audit_trail(&self, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT at, actor, action, target, detail FROM audit ORDER BY at DESC, rowid DESC LIMIT ?1",
                )
                .map_err(read_err("read the audit trail"))?;
            let rows = statement
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok(AuditEntry {
                        at: Timestamp::from_nanos(r.get(0)?),
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        target: r.get(3)?,
                        detail: r.get(4)?,
                    })
                })
                .map_err(read_err("read the audit trail"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(read_err("read the audit trail"))
        })
    }
}
