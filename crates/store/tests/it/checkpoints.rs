//! Office 365 pull checkpoints: the listing watermark only moves forward, blobs taken are
//! remembered across a reopen, and old ones are forgotten.

use store::{Checkpoint, Checkpoints, Taken};

use crate::at;

#[test]
fn checkpoints_survive_a_reopen_and_only_move_forward() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    {
        let store = store::Sqlite::open(dir.path()).expect("opens");
        assert_eq!(store.listed_to("t1", "Audit.Exchange").expect("read"), None);
        store.set_listed_to("t1", "Audit.Exchange", at("09:00:00")).expect("write");
        store.set_listed_to("t1", "Audit.Exchange", at("08:00:00")).expect("an older mark is ignored");
        store.take("t1", "Audit.Exchange", "b1", at("08:10:00"), Taken::Records(3)).expect("take");
        store.take("t1", "Audit.Exchange", "b2", at("08:50:00"), Taken::Expired).expect("take");
        store.take("t1", "Audit.General", "g1", at("07:00:00"), Taken::Malformed).expect("take");
        store.take("t2", "Audit.Exchange", "b1", at("08:20:00"), Taken::Records(1)).expect("another tenant");
    }
    let store = store::Sqlite::open(dir.path()).expect("reopens");
    assert_eq!(store.listed_to("t1", "Audit.Exchange").expect("read"), Some(at("09:00:00")));
    let taken = store.taken_since("t1", "Audit.Exchange", at("08:00:00")).expect("read");
    assert_eq!(taken, ["b1".to_owned(), "b2".to_owned()].into());
    assert_eq!(store.taken_since("t1", "Audit.Exchange", at("08:30:00")).expect("read").len(), 1);
    assert_eq!(
        store.checkpoints().expect("read"),
        [
            Checkpoint {
                tenant: "t1".into(),
                content_type: "Audit.Exchange".into(),
                listed_to: Some(at("09:00:00")),
                newest: Some(at("08:50:00")),
                blobs: 2,
                records: 3,
            },
            Checkpoint {
                tenant: "t1".into(),
                content_type: "Audit.General".into(),
                listed_to: None,
                newest: Some(at("07:00:00")),
                blobs: 1,
                records: 0,
            },
            Checkpoint {
                tenant: "t2".into(),
                content_type: "Audit.Exchange".into(),
                listed_to: None,
                newest: Some(at("08:20:00")),
                blobs: 1,
                records: 1,
            },
        ]
    );
    assert_eq!(store.forget_taken(at("08:15:00")).expect("forget"), 2);
    assert!(store.taken_since("t1", "Audit.General", at("00:00:00")).expect("read").is_empty());
    assert_eq!(store.listed_to("t1", "Audit.Exchange").expect("the watermark stays"), Some(at("09:00:00")));
}
