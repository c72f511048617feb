//! Real Elasticsearch clients and log daemons, as their users configure them, sending to
//! `vigil serve`: elasticsearch-py 7.17, 8 and 9 (whose bulk helper sends `PUT /_bulk`) and
//! opensearch-py with their own bulk helpers; Elastic's Node client 8.19 and 9.4 and
//! pino-elasticsearch; syslog-ng's `elasticsearch-http()` and rsyslog's
//! omelasticsearch, each a foreground instance of its own reading a log file. They are installed
//! by `tests/clients/install.sh` (`.ci/run` runs it; a test does when what it needs is missing,
//! and fails if it cannot).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::serve::start;

/// The clients: the environment under `target/clients`, the kind the sender script knows, a
/// label for their events.
const CLIENTS: [(&str, &str); 4] =
    [("es7", "elasticsearch"), ("es8", "elasticsearch"), ("es9", "elasticsearch"), ("opensearch", "opensearch")];

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `path`, after installing the clients and daemons when it is missing.
fn installed(path: PathBuf) -> PathBuf {
    if !path.exists() {
        let script = root().join("crates/vigil/tests/clients/install.sh");
        let status = Command::new("bash").arg(&script).status().expect("bash runs");
        assert!(status.success(), "the clients could not be installed by {}", script.display());
        assert!(path.exists(), "{} is missing after {}", path.display(), script.display());
    }
    path
}

/// The Python of a client's environment.
fn python(name: &str) -> PathBuf {
    installed(root().join("target/clients").join(name).join("bin/python"))
}

/// How many events vigil at `url` has stored (its health check, which needs no key).
fn stored(url: &str) -> u64 {
    let health: Value =
        ureq::get(format!("{url}/api/v1/health")).call().expect("health answers").body_mut().read_json().expect("JSON");
    health["events"].as_u64().expect("a count of events")
}

/// Runs a sender script; the JSON line it prints.
fn report(command: &mut Command, label: &str) -> Value {
    let out = command.output().expect("the sender runs");
    assert!(out.status.success(), "{label}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{label}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Sends `count` events with Elastic's Node client (`client`) or pino-elasticsearch (`pino`)
/// from a folder under `target/clients`; what it reports.
fn send_node(folder: &str, kind: &str, url: &str, key: &str, count: usize) -> Value {
    let dir = installed(root().join("target/clients").join(folder).join("node_modules"));
    let script = root().join("crates/vigil/tests/clients/send.mjs");
    let mut command = Command::new("node");
    command.arg(script).args([kind, url, key, folder, &count.to_string()]);
    report(command.current_dir(dir.parent().expect("the client's folder")), &format!("{folder} {kind}"))
}

#[test]
fn node_clients_and_pino_store_every_event_they_send() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(data.path(), &[], &[]);
    let key = server.admin.clone().expect("a fresh install's admin key");
    for (folder, kind) in [("node8", "client"), ("node9", "client"), ("node8", "pino")] {
        let report = send_node(folder, kind, &server.url, &key, 10_000);
        assert_eq!(
            (report["sent"].as_u64(), report["failed"].as_u64()),
            (Some(10_000), Some(0)),
            "{folder} {kind}: {report}"
        );
    }
    assert_eq!(stored(&server.url), 30_000, "every event stored, once");
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}

/// What a client sends.
#[derive(Clone, Copy)]
enum Documents {
    /// Events with their own `event.id`.
    Own,
    /// One line repeated, without ids.
    Identical,
    /// Documents with an `_id`.
    Ids,
}

/// Sends `count` documents with a client; what it reports.
fn send(name: &str, kind: &str, url: &str, key: &str, count: usize, documents: Documents) -> Value {
    let script = root().join("crates/vigil/tests/clients/send.py");
    let mut command = Command::new(python(name));
    command.arg(script).args([kind, url, key, name, &count.to_string()]);
    match documents {
        Documents::Own => {}
        Documents::Identical => {
            command.arg("identical");
        }
        Documents::Ids => {
            command.arg("ids");
        }
    }
    report(&mut command, name)
}

#[test]
fn elasticsearch_clients_store_every_event_they_send() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(data.path(), &[], &[]);
    let key = server.admin.clone().expect("a fresh install's admin key");
    for (name, kind) in CLIENTS {
        let report = send(name, kind, &server.url, &key, 10_000, Documents::Own);
        assert_eq!(
            (report["sent"].as_u64(), report["errors"].as_array().map(Vec::len)),
            (Some(10_000), Some(0)),
            "{name}: {report}"
        );
        // A burst of identical lines without ids stays a burst, as in Elasticsearch.
        let report = send(name, kind, &server.url, &key, 100, Documents::Identical);
        assert_eq!(report["sent"], 100, "{name}: {report}");
    }
    assert_eq!(stored(&server.url), 4 * (10_000 + 100), "every event stored, once");
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}

/// A proxy in front of `upstream` that forwards every HTTP/1.1 request and its answer, except
/// that it drops the connection instead of answering the first bulk request (its answer lost
/// on the way back, after vigil stored the batch). Returns its address.
fn dropping_proxy(upstream: &str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("an address");
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let (upstream, dropped) = (upstream.clone(), dropped.clone());
            std::thread::spawn(move || {
                // One request per connection: its head, then as many body bytes as it says.
                let mut reader = BufReader::new(client.try_clone().expect("a clone"));
                let mut client = client;
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0usize);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let mut server = std::net::TcpStream::connect(&upstream).expect("vigil answers");
                let head = head.replacen("\r\n", "\r\nconnection: close\r\n", 1);
                server.write_all(head.as_bytes()).and_then(|()| server.write_all(&body)).expect("forwarded");
                let mut answer = Vec::new();
                let _ = server.read_to_end(&mut answer);
                let bulk = head.starts_with("PUT /_bulk") || head.starts_with("POST /_bulk");
                if bulk && !dropped.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return; // the answer is lost: the client's connection just closes
                }
                // The answer as vigil gave it; the connection then closes.
                let _ = client.write_all(&answer);
            });
        }
    });
    format!("http://{address}")
}

#[test]
fn a_batch_sent_again_after_its_answer_was_lost_behaves_as_with_elasticsearch() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(data.path(), &[], &[]);
    let key = server.admin.clone().expect("a fresh install's admin key");
    // elasticsearch-py retries a request whose connection drops. Documents without ids are new
    // each time, as in Elasticsearch: the first batch is stored twice.
    let proxy = dropping_proxy(&server.url);
    let report = send("es8", "elasticsearch", &proxy, &key, 300, Documents::Identical);
    assert_eq!((report["sent"].as_u64(), report["errors"].as_array().map(Vec::len)), (Some(300), Some(0)), "{report}");
    assert_eq!(stored(&server.url), 600, "the batch whose answer was lost is stored again, as Elasticsearch does");
    // Documents with an `_id` are stored once however often they come.
    let proxy = dropping_proxy(&server.url);
    let report = send("es8", "elasticsearch", &proxy, &key, 300, Documents::Ids);
    assert_eq!((report["sent"].as_u64(), report["errors"].as_array().map(Vec::len)), (Some(300), Some(0)), "{report}");
    assert_eq!(stored(&server.url), 900, "named documents sent twice are stored once");
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}

/// Log lines as a log daemon reads them from a file: 10,000 different ones, then 100 identical.
fn log_file(dir: &std::path::Path) -> PathBuf {
    let mut text: String = (0..10_000).map(|i| format!("event {i} from a log daemon\n")).collect();
    text.push_str(&"Failed password for root from 203.0.113.9\n".repeat(100));
    let file = dir.join("events.log");
    std::fs::write(&file, text).expect("the log file is written");
    file
}

/// Runs a log daemon in the foreground until vigil has stored `expected` events (or a minute has
/// passed); returns how many it has.
fn deliver(daemon: &mut Command, url: &str, expected: u64) -> u64 {
    let mut child = daemon
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline && stored(url) < expected {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // Whatever else it would send (a second delivery) has a moment to arrive.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let _ = child.kill();
    let _ = child.wait();
    stored(url)
}

#[test]
fn syslog_ng_stores_every_line_it_sends() {
    let syslog_ng = installed(PathBuf::from("/usr/sbin/syslog-ng"));
    let (data, work) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = start(data.path(), &[], &[]);
    let key = server.admin.clone().expect("a fresh install's admin key");
    let file = log_file(work.path());
    // As syslog-ng's users configure it: the elasticsearch-http() destination, a user and the key.
    let config = format!(
        "@version: 3.38\n@include \"scl.conf\"\noptions {{ stats-freq(0); }};\n\
         source s_file {{ file(\"{}\" follow-freq(1) flags(no-parse)); }};\n\
         destination d_vigil {{ elasticsearch-http(url(\"{}/_bulk\") index(\"logs-syslog.test-default\") type(\"\")\n\
         user(\"syslog-ng\") password(\"{key}\") batch-lines(500) batch-timeout(1000)); }};\n\
         log {{ source(s_file); destination(d_vigil); }};\n",
        file.display(),
        server.url
    );
    let conf = work.path().join("syslog-ng.conf");
    std::fs::write(&conf, config).expect("written");
    let at = |name: &str| work.path().join(name);
    let mut daemon = Command::new(syslog_ng);
    daemon
        .arg("-F")
        .arg("--no-caps")
        .arg("-f")
        .arg(&conf)
        .arg("-R")
        .arg(at("persist"))
        .arg("-p")
        .arg(at("pid"))
        .arg("-c")
        .arg(at("ctl"));
    assert_eq!(deliver(&mut daemon, &server.url, 10_100), 10_100, "every line, identical ones too, once each");
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn rsyslog_stores_every_line_it_sends() {
    let rsyslogd = installed(root().join("target/clients/rsyslog/usr/sbin/rsyslogd"));
    let (data, work) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = start(data.path(), &[], &[]);
    let key = server.admin.clone().expect("a fresh install's admin key");
    let file = log_file(work.path());
    let port = server.url.rsplit(':').next().expect("a port").to_owned();
    // As rsyslog's users configure omelasticsearch: bulk mode, a user and the key, and its
    // defaults otherwise (it sends `_type`, which vigil accepts).
    let config = format!(
        "global(workDirectory=\"{}\")\nmodule(load=\"imfile\")\nmodule(load=\"omelasticsearch\")\n\
         template(name=\"doc\" type=\"list\" option.json=\"on\") {{\n\
           constant(value=\"{{\\\"@timestamp\\\":\\\"\") property(name=\"timereported\" dateFormat=\"rfc3339\")\n\
           constant(value=\"\\\",\\\"message\\\":\\\"\") property(name=\"msg\") constant(value=\"\\\"}}\")\n}}\n\
         input(type=\"imfile\" File=\"{}\" Tag=\"test:\")\n\
         action(type=\"omelasticsearch\" server=\"127.0.0.1\" serverport=\"{port}\" searchIndex=\"logs-rsyslog.test-default\"\n\
                template=\"doc\" bulkmode=\"on\" uid=\"rsyslog\" pwd=\"{key}\")\n",
        work.path().display(),
        file.display()
    );
    let conf = work.path().join("rsyslog.conf");
    std::fs::write(&conf, config).expect("written");
    let unpacked = root().join("target/clients/rsyslog");
    let mut daemon = Command::new(rsyslogd);
    daemon
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-M")
        .arg(unpacked.join("usr/lib/x86_64-linux-gnu/rsyslog"))
        .arg("-i")
        .arg(work.path().join("pid"));
    assert_eq!(deliver(&mut daemon, &server.url, 10_100), 10_100, "every line, identical ones too, once each");
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}
