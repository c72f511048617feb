//! Real Elasticsearch clients, as their users configure them, sending to `vigil serve`:
//! elasticsearch-py 8 and 9 (whose bulk helper sends `PUT /_bulk`) and opensearch-py, each with
//! its own bulk helper. Their virtual environments are made by `tests/clients/install.sh`
//! (`.ci/run` runs it; this test does when one is missing, and fails if it cannot).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::serve::start;

/// The clients: the environment under `target/clients`, the kind the sender script knows, a
/// label for their events.
const CLIENTS: [(&str, &str); 3] = [("es8", "elasticsearch"), ("es9", "elasticsearch"), ("opensearch", "opensearch")];

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The Python of a client's environment, installing the clients first when one is missing.
fn python(name: &str) -> PathBuf {
    let python = root().join("target/clients").join(name).join("bin/python");
    if !python.exists() {
        let script = root().join("crates/vigil/tests/clients/install.sh");
        let installed = Command::new("bash").arg(&script).status().expect("bash runs");
        assert!(installed.success(), "the Elasticsearch clients could not be installed by {}", script.display());
    }
    python
}

/// Sends `count` events (or `count` identical id-less lines) with a client; what it reports.
fn send(name: &str, kind: &str, url: &str, key: &str, count: usize, identical: bool) -> Value {
    let script = root().join("crates/vigil/tests/clients/send.py");
    let mut command = Command::new(python(name));
    command.arg(script).args([kind, url, key, name, &count.to_string()]);
    if identical {
        command.arg("identical");
    }
    let out = command.output().expect("python runs");
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn elasticsearch_clients_store_every_event_they_send() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(data.path(), &[], &[]);
    let key = server.admin.clone().expect("a fresh install's admin key");
    for (name, kind) in CLIENTS {
        let report = send(name, kind, &server.url, &key, 10_000, false);
        assert_eq!(
            (report["sent"].as_u64(), report["errors"].as_array().map(Vec::len)),
            (Some(10_000), Some(0)),
            "{name}: {report}"
        );
        // A burst of identical lines without ids stays a burst, as in Elasticsearch.
        let report = send(name, kind, &server.url, &key, 100, true);
        assert_eq!(report["sent"], 100, "{name}: {report}");
    }
    let health: Value = ureq::get(format!("{}/api/v1/health", server.url))
        .call()
        .expect("health answers")
        .body_mut()
        .read_json()
        .expect("JSON");
    assert_eq!(health["events"], 3 * (10_000 + 100), "every event stored, once: {health}");
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}
