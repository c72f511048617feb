//! Who may use the service, and what they changed: API keys and the audit trail.
//!
//! The engine never reads these, so they are declared here rather than in `engine::storage`.

use ecs::date::Timestamp;
use engine::storage::{StoreError, StoreResult};
use rusqlite::{OptionalExtension, params};

use crate::sqlite::{Sqlite, err};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// API keys and the audit trail.
pub trait Access: Send + Sync {
    /// Stores a new key with the digest of its secret.
    ///
    /// # Errors
    ///
    /// When the store cannot write, or the id is taken.
    fn add_key(&self, key: &ApiKey, digest: &[u8; 32]) -> StoreResult<()>;

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

    /// Revokes a key; returns whether a live key had that id.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn revoke_key(&self, id: &str, at: Timestamp) -> StoreResult<bool>;

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
        role: Role::parse(&role).unwrap_or(Role::Ingest),
        created: Timestamp::from_nanos(r.get(3)?),
        revoked: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_nanos),
    })
}

impl Access for Sqlite {
    fn add_key(&self, key: &ApiKey, digest: &[u8; 32]) -> StoreResult<()> {
        self.write(|conn| {
            conn.execute(
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
            .map_err(err("store the key"))?;
            Ok(())
        })
    }

    fn key(&self, id: &str) -> StoreResult<Option<(ApiKey, [u8; 32])>> {
        self.read(|conn| {
            let found = conn
                .query_row("SELECT id, name, role, created, revoked, hash FROM api_keys WHERE id = ?1", [id], |r| {
                    Ok((key_from_row(r)?, r.get::<_, Vec<u8>>(5)?))
                })
                .optional()
                .map_err(err("read keys"))?;
            match found {
                None => Ok(None),
                Some((key, hash)) => {
                    let digest = <[u8; 32]>::try_from(hash)
                        .map_err(|_| StoreError(format!("key {id}: its stored digest is not 32 bytes")))?;
                    Ok(Some((key, digest)))
                }
            }
        })
    }

    fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT id, name, role, created, revoked FROM api_keys ORDER BY created, id")
                .map_err(err("read keys"))?;
            let rows = statement.query_map([], key_from_row).map_err(err("read keys"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err("read keys"))
        })
    }

    fn revoke_key(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        self.write(|conn| {
            let changed = conn
                .execute(
                    "UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                    params![id, at.as_nanos()],
                )
                .map_err(err("revoke the key"))?;
            Ok(changed == 1)
        })
    }

    fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![entry.at.as_nanos(), entry.actor, entry.action, entry.target, entry.detail],
            )
            .map_err(err("write the audit trail"))?;
            Ok(())
        })
    }

    fn audit_trail(&self, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT at, actor, action, target, detail FROM audit ORDER BY at DESC, rowid DESC LIMIT ?1",
                )
                .map_err(err("read the audit trail"))?;
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
                .map_err(err("read the audit trail"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err("read the audit trail"))
        })
    }
}
