//! Exception lists and value lists kept by the service, each change stored in one transaction
//! with its audit entry.

use std::path::Path;

use ecs::date::Timestamp;
use engine::storage::{StoreError, StoreResult};
use rules::exceptions::{self, ExceptionList, Exceptions, Form, NamespaceType, ValueList, ValueListType};
use rusqlite::{OptionalExtension, params};

use crate::access::{AuditEntry, record};
use crate::sqlite::{Sqlite, read_err, write_err};

/// The service's exception lists and value lists.
pub trait Tuning: Send + Sync {
    /// Every exception list and value list.
    ///
    /// # Errors
    ///
    /// When the store cannot be read, or holds a list that no longer reads.
    fn exceptions(&self) -> StoreResult<Exceptions>;

    /// Stores `list` (replacing one with its `list_id` and namespace), with `audit`.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn put_list(&self, list: &ExceptionList, audit: &AuditEntry) -> StoreResult<()>;

    /// Changes one list in one transaction: `change` gets the list as stored (`None` when there
    /// is none) and returns the list to store, or `None` to store nothing; what it returns is
    /// stored with `audit`. Two changes never overwrite each other's items.
    ///
    /// # Errors
    ///
    /// When the store cannot be read or written; nothing is stored then.
    fn change_list(
        &self,
        list_id: &str,
        namespace: NamespaceType,
        change: &mut dyn FnMut(Option<ExceptionList>) -> Option<ExceptionList>,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Removes a list, with `audit`; returns whether there was one.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn delete_list(&self, list_id: &str, namespace: NamespaceType, audit: &AuditEntry) -> StoreResult<bool>;

    /// Stores `list` (replacing one with its id), with `audit`.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn put_value_list(&self, list: &ValueList, audit: &AuditEntry) -> StoreResult<()>;

    /// Removes a value list, with `audit`; returns whether there was one.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing is stored then.
    fn delete_value_list(&self, id: &str, audit: &AuditEntry) -> StoreResult<bool>;
}

/// Lists in vigil's TOML form (as [`exceptions::to_toml`] writes them) read back; `what` names
/// them in the error (as a diagnostic's file name).
///
/// # Errors
///
/// [`StoreError::Corrupt`] when the text does not read.
pub fn read_toml(what: &str, text: &str) -> StoreResult<Exceptions> {
    let (parsed, diagnostics) = exceptions::parse(Path::new(what), text, Form::Toml);
    match diagnostics.iter().find(|d| d.is_error()) {
        Some(problem) => Err(StoreError::Corrupt(problem.to_string())),
        None => Ok(parsed),
    }
}

/// A stored list's TOML, read back (one list, no value lists).
fn parse_stored(list_id: &str, text: &str) -> StoreResult<Exceptions> {
    let parsed = read_toml(&format!("exception list {list_id}"), text)?;
    if parsed.lists.len() != 1 {
        let n = parsed.lists.len();
        return Err(StoreError::Corrupt(format!("exception list {list_id}: its stored text holds {n} lists")));
    }
    Ok(parsed)
}

/// Stores `list`, replacing the one with its `list_id` and namespace, inside the caller's
/// transaction.
fn store_list(tx: &rusqlite::Transaction<'_>, list: &ExceptionList) -> StoreResult<()> {
    let text = exceptions::to_toml(&Exceptions { lists: vec![list.clone()], value_lists: Vec::new() });
    tx.execute(
        "INSERT INTO exception_lists (list_id, namespace_type, toml, updated) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (list_id, namespace_type) DO UPDATE SET toml = excluded.toml, updated = excluded.updated",
        params![list.list_id, list.namespace_type.as_str(), text, Timestamp::now().as_nanos()],
    )
    .map_err(write_err("store the exception list"))?;
    Ok(())
}

impl Tuning for Sqlite {
    fn exceptions(&self) -> StoreResult<Exceptions> {
        self.read(|conn| {
            let mut out = Exceptions::default();
            let mut statement = conn
                .prepare_cached("SELECT list_id, toml FROM exception_lists ORDER BY updated, list_id")
                .map_err(read_err("read exception lists"))?;
            let rows = statement
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(read_err("read exception lists"))?;
            for row in rows {
                let (list_id, text) = row.map_err(read_err("read exception lists"))?;
                out.extend(parse_stored(&list_id, &text)?);
            }
            let mut statement = conn
                .prepare_cached("SELECT id, type, name, vals FROM value_lists ORDER BY id")
                .map_err(read_err("read value lists"))?;
            let rows = statement
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
                })
                .map_err(read_err("read value lists"))?;
            for row in rows {
                let (id, kind, name, values) = row.map_err(read_err("read value lists"))?;
                let kind = ValueListType::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("value list {id}: unknown type `{kind}`")))?;
                let mut list = ValueList::from_lines(&id, kind, &values)
                    .map_err(|why| StoreError::Corrupt(format!("value list {id}: {why}")))?;
                list.name = name;
                out.value_lists.push(list);
            }
            Ok(out)
        })
    }

    fn put_list(&self, list: &ExceptionList, audit: &AuditEntry) -> StoreResult<()> {
        self.transaction("store the exception list", |tx| {
            store_list(tx, list)?;
            record(tx, audit)
        })
    }

    fn change_list(
        &self,
        list_id: &str,
        namespace: NamespaceType,
        change: &mut dyn FnMut(Option<ExceptionList>) -> Option<ExceptionList>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.transaction("store the exception list", |tx| {
            let text: Option<String> = tx
                .query_row(
                    "SELECT toml FROM exception_lists WHERE list_id = ?1 AND namespace_type = ?2",
                    params![list_id, namespace.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(read_err("read exception lists"))?;
            let stored = match text {
                Some(text) => Some(parse_stored(list_id, &text)?.lists.remove(0)),
                None => None,
            };
            if let Some(list) = change(stored) {
                store_list(tx, &list)?;
                record(tx, audit)?;
            }
            Ok(())
        })
    }

    fn delete_list(&self, list_id: &str, namespace: NamespaceType, audit: &AuditEntry) -> StoreResult<bool> {
        self.transaction("remove the exception list", |tx| {
            let removed = tx
                .execute(
                    "DELETE FROM exception_lists WHERE list_id = ?1 AND namespace_type = ?2",
                    params![list_id, namespace.as_str()],
                )
                .map_err(write_err("remove the exception list"))?;
            if removed > 0 {
                record(tx, audit)?;
            }
            Ok(removed > 0)
        })
    }

    fn put_value_list(&self, list: &ValueList, audit: &AuditEntry) -> StoreResult<()> {
        self.transaction("store the value list", |tx| {
            tx.execute(
                "INSERT INTO value_lists (id, type, name, vals, updated) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, vals = excluded.vals,
                 updated = excluded.updated",
                params![list.id, list.kind.as_str(), list.name, list.values.join("\n"), Timestamp::now().as_nanos()],
            )
            .map_err(write_err("store the value list"))?;
            record(tx, audit)
        })
    }

    fn delete_value_list(&self, id: &str, audit: &AuditEntry) -> StoreResult<bool> {
        self.transaction("remove the value list", |tx| {
            let removed = tx
                .execute("DELETE FROM value_lists WHERE id = ?1", [id])
                .map_err(write_err("remove the value list"))?;
            if removed > 0 {
                record(tx, audit)?;
            }
            Ok(removed > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Access;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            at: Timestamp::now(),
            actor: "alice".into(),
            action: action.into(),
            target: "t".into(),
            detail: None,
        }
    }

    #[test]
    fn lists_are_kept_replaced_and_removed_with_their_audit_entries() {
        let dir = tempfile::tempdir().expect("a folder");
        let store = Sqlite::open(dir.path()).expect("the store");
        let text = "[[lists]]\nlist_id = \"l\"\nrules = [\"r1\"]\n\n[[lists.items]]\nitem_id = \"i\"\nentries = [{ field = \"user.name\", type = \"exists\", operator = \"included\" }]\n";
        let (parsed, diagnostics) = exceptions::parse(Path::new("l.toml"), text, Form::Toml);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        store.put_list(&parsed.lists[0], &entry("exception_list.put")).expect("stored");
        store.put_list(&parsed.lists[0], &entry("exception_list.put")).expect("replaced");
        let office = ValueList::from_lines("office", ValueListType::IpRange, "10.0.0.0/8\n").expect("a list");
        store.put_value_list(&office, &entry("value_list.put")).expect("stored");
        let kept = store.exceptions().expect("read");
        assert_eq!(
            (kept.lists.len(), kept.lists[0].rules.as_slice(), kept.value_lists.len()),
            (1, &["r1".to_owned()][..], 1)
        );
        assert_eq!(kept.lists[0].items, parsed.lists[0].items);
        assert!(store.delete_list("l", NamespaceType::Single, &entry("exception_list.delete")).expect("removed"));
        assert!(!store.delete_list("l", NamespaceType::Single, &entry("exception_list.delete")).expect("none"));
        assert!(store.delete_value_list("office", &entry("value_list.delete")).expect("removed"));
        assert_eq!(store.exceptions().expect("read"), Exceptions::default());
        let actions: Vec<String> = store.audit_trail(10).expect("the trail").into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                "value_list.delete",
                "exception_list.delete",
                "value_list.put",
                "exception_list.put",
                "exception_list.put"
            ]
        );
    }

    #[test]
    fn changes_made_at_once_all_land() {
        let dir = tempfile::tempdir().expect("a folder");
        let store = std::sync::Arc::new(Sqlite::open(dir.path()).expect("the store"));
        let text = "[[lists]]\nlist_id = \"l\"\n\n[[lists.items]]\nitem_id = \"first\"\nentries = [{ field = \"user.name\", type = \"exists\", operator = \"included\" }]\n";
        let (parsed, _) = exceptions::parse(Path::new("l.toml"), text, Form::Toml);
        store.put_list(&parsed.lists[0], &entry("exception_list.put")).expect("stored");
        let threads: Vec<_> = (0..16)
            .map(|n| {
                let (store, template) = (store.clone(), parsed.lists[0].items[0].clone());
                std::thread::spawn(move || {
                    let mut add = |stored: Option<ExceptionList>| {
                        let mut list = stored?;
                        list.items.push(exceptions::ExceptionItem { item_id: format!("item-{n}"), ..template.clone() });
                        Some(list)
                    };
                    store
                        .change_list("l", NamespaceType::Single, &mut add, &entry("exception_item.put"))
                        .expect("changed");
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no panic");
        }
        assert_eq!(store.exceptions().expect("read").lists[0].items.len(), 17, "no change overwrote another");
        let mut none = |_: Option<ExceptionList>| None;
        store.change_list("l", NamespaceType::Single, &mut none, &entry("exception_item.put")).expect("nothing");
        assert_eq!(store.audit_trail(100).expect("trail").len(), 17, "a change that stores nothing is not audited");
    }
}
