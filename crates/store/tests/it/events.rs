use engine::storage::{Appended, EventLog, EventQuery, TimeColumn};

use crate::{at, dkim, new_event, open, quiet};

fn seqs(store: &store::Sqlite, query: &EventQuery) -> Vec<u64> {
    let mut out = Vec::new();
    store
        .scan(query, &mut |e| {
            out.push(e.seq);
            true
        })
        .expect("scan");
    // Only pages (with a limit) come in sequence order.
    if query.limit.is_none() {
        out.sort_unstable();
    }
    out
}

#[test]
fn appends_number_events_and_store_redeliveries_once() {
    let (_dir, store) = open();
    let first = [new_event(dkim("a", "08:00:00"), at("08:01:00")), new_event(quiet("b", "08:00:01"), at("08:01:00"))];
    assert_eq!(store.append(&first).expect("append"), [Appended::Stored(1), Appended::Stored(2)]);
    // The same record again (another ingest time), and a new one, in one batch.
    let again = [new_event(dkim("a", "08:00:00"), at("08:05:00")), new_event(quiet("c", "08:00:02"), at("08:05:00"))];
    assert_eq!(store.append(&again).expect("append"), [Appended::Duplicate(1), Appended::Stored(3)]);
    assert_eq!((store.last_seq().expect("seq"), store.event_count().expect("count")), (3, 3));
}

#[test]
fn a_new_store_has_16_kb_pages_and_an_old_one_keeps_its_own() {
    let (dir, store) = open();
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join("vigil.db")).expect("opens");
    let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0)).expect("reads");
    assert_eq!(size, 16384);
    let old = tempfile::tempdir().expect("a folder");
    let made = rusqlite::Connection::open(old.path().join("vigil.db")).expect("opens");
    made.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);").expect("made");
    drop(made);
    store::Sqlite::open(old.path()).expect("migrates");
    let db = rusqlite::Connection::open(old.path().join("vigil.db")).expect("opens");
    let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0)).expect("reads");
    assert_eq!(size, 4096, "an existing database is not rebuilt");
}

#[test]
fn scans_select_the_window_and_what_came_after() {
    let (_dir, store) = open();
    let events = [
        new_event(quiet("1", "08:00:00"), at("08:00:10")),
        new_event(quiet("2", "08:10:00"), at("08:10:10")),
        new_event(quiet("3", "07:00:00"), at("08:20:00")), // late
        new_event(quiet("4", "08:15:00"), at("08:20:00")),
    ];
    store.append(&events).expect("append");
    let window = Some((TimeColumn::Timestamp, at("08:05:00"), at("08:20:00")));
    let query = |after, up_to| EventQuery { window, after, up_to, limit: None, ordered: false, from_seq: 0 };
    assert_eq!(seqs(&store, &query(None, 4)), [2, 4]);
    assert_eq!(seqs(&store, &query(Some(2), 4)), [2, 3, 4]);
    assert_eq!(seqs(&store, &query(Some(2), 3)), [2, 3], "nothing above up_to");
    let ingested =
        EventQuery { window: Some((TimeColumn::Ingested, at("08:15:00"), at("08:25:00"))), ..query(None, 4) };
    assert_eq!(seqs(&store, &ingested), [3, 4]);
    let paged = EventQuery { window: None, after: None, up_to: 4, limit: Some(2), ordered: false, from_seq: 1 };
    assert_eq!(seqs(&store, &paged), [2, 3]);
}

#[test]
fn retention_removes_old_events_and_never_reuses_numbers() {
    let (dir, store) = open();
    store.append(&[new_event(quiet("1", "08:00:00"), at("08:00:00"))]).expect("append");
    store.append(&[new_event(quiet("2", "09:00:00"), at("09:00:00"))]).expect("append");
    assert_eq!(store.count_ingested_before(at("10:00:00"), 1).expect("counts"), 1);
    assert_eq!(store.remove_ingested_before(at("10:00:00"), 1).expect("retention"), 1, "only what is covered");
    assert_eq!(store.remove_ingested_before(at("10:00:00"), u64::MAX).expect("retention"), 1);
    assert_eq!(store.event_count().expect("count"), 0);
    assert_eq!(store.last_seq().expect("seq"), 2, "the highest number given stays");
    drop(store);
    let store = store::Sqlite::open(dir.path()).expect("reopens");
    let appended = store.append(&[new_event(quiet("3", "10:00:00"), at("10:00:00"))]).expect("append");
    assert_eq!(appended, [Appended::Stored(3)]);
}
