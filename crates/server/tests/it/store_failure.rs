//! When the disk fills up, the service answers 503, stays up, and recovers when there is room
//! again. Tested on a real filesystem: a small tmpfs mounted for the test (this needs root, as on
//! vigil's CI; elsewhere the test says it is skipped). A disk that turns read-only takes the same
//! path (any store error is a 503), but cannot be made so here: Linux refuses to remount a
//! filesystem read-only while SQLite holds its files open for writing.

use std::path::Path;
use std::process::Command;

use crate::App;

fn mount(dir: &Path, options: &str) -> bool {
    Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(dir).status().is_ok_and(|s| s.success())
}

fn remount(dir: &Path, options: &str) {
    let status = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(dir).status();
    assert!(status.is_ok_and(|s| s.success()), "remount {options}");
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

fn events(from: usize, n: usize) -> String {
    let padding = "p".repeat(2000);
    (from..from + n).map(|i| format!("{{\"event\":{{\"id\":\"e{i}\"}},\"message\":\"{padding}\"}}\n")).collect()
}

#[tokio::test]
#[allow(clippy::print_stderr)]
async fn a_full_disk_is_a_503_until_there_is_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    if !mount(dir.path(), "size=2m") {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _unmount = Unmount(dir.path());
    let data = tempfile::Builder::new().tempdir_in(dir.path()).expect("data dir");
    let app = App::in_dir(data, server::Config::default());

    // Fill the disk.
    let mut sent = 0;
    let full = loop {
        let (status, body) = app.call("POST", "/api/v1/events", events(sent, 50)).await;
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        sent += 50;
        assert!(sent < 10_000, "a 2 MB disk never filled");
    };
    assert_eq!(full["error"]["type"], "store_unavailable");
    let reason = full["error"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("the store cannot write now"), "{full}");
    assert!(!reason.contains("disk is full") && !reason.contains("SQLite"), "no internals in the answer: {full}");
    let (status, _) = app.call("GET", "/api/v1/alerts", "").await;
    assert_eq!(status, 200, "reads go on while the disk is full");
    // The health check says so, though reads work: it answers from the last write.
    let (status, health) = app.call_as(None, "GET", "/api/v1/health", "").await;
    assert_eq!((status.as_u16(), health["status"].as_str()), (503, Some("unavailable")), "{health}");
    assert!(health["store_error"].as_str().unwrap().contains("the last write failed"), "{health}");

    // More room: the same service takes events again.
    remount(dir.path(), "size=64m");
    let (status, body) = app.call("POST", "/api/v1/events", events(sent, 50)).await;
    assert_eq!((status.as_u16(), body["stored"].as_u64()), (200, Some(50)), "{body}");

    let (status, health) = app.call("GET", "/api/v1/health", "").await;
    assert_eq!((status.as_u16(), health["status"].as_str()), (200, Some("ok")), "a write worked again");
    assert_eq!(health["events"].as_u64(), Some(sent as u64 + 50));
}
