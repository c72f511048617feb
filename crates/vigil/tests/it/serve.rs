//! `vigil serve` killed with SIGKILL while it ingests and executes, several times over: no
//! acknowledged event is lost, and every stored event alerts exactly once.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::storage::{AlertFilter, AlertStore, EventLog, EventQuery};
use serde_json::Value;

/// A rule of our own that matches every event the test sends, run every second.
const MARKER_RULE: &str = r#"
[metadata]
creation_date = "2026/11/28"
maturity = "production"
updated_date = "2026/11/28"

[rule]
author = ["vigil"]
description = "Marks every event of vigil's crash test."
from = "now-1h"
index = ["logs-*"]
interval = "1s"
language = "kuery"
license = "Apache-2.0"
max_signals = 100000
name = "Crash test marker"
risk_score = 21
rule_id = "crash-test-marker"
severity = "low"
type = "query"
query = 'event.action:"crash-test"'
"#;

/// A running `vigil serve`, its address, its log (collected until it ends), and the admin key
/// it made if its data directory was new.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    log: std::thread::JoinHandle<String>,
    pub(crate) admin: Option<String>,
}

/// Starts `vigil serve` on a free port with `args` and `env`, and waits until it says where it
/// listens.
pub(crate) fn start(data: &Path, args: &[&std::ffi::OsStr], env: &[(&str, &Path)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil serve starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut admin = None;
    let url = loop {
        let line = lines.next().expect("vigil serve says where it listens").expect("a log line");
        if let Some(key) = line.trim().strip_prefix("vgl_") {
            admin = Some(format!("vgl_{key}"));
        }
        if let Some(at) = line.find("address=") {
            break line[at + "address=".len()..].split_whitespace().next().unwrap_or("").to_owned();
        }
    };
    // Reading on keeps it from blocking on a full pipe.
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    Server { child, url, log, admin }
}

/// Sends batches of events until the server stops answering; returns the ids acknowledged
/// (stored, or already there).
fn ingest_until_killed(url: &str, key: &str, round: usize, stop: &AtomicBool) -> Vec<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut acknowledged = Vec::new();
    let now = ecs::date::Timestamp::now().to_string();
    for batch in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut body = String::new();
        for i in 0..200 {
            body.push_str("{\"create\":{\"_index\":\"logs-crash.test-default\"}}\n");
            body.push_str(&format!(
                "{{\"@timestamp\":\"{now}\",\"event\":{{\"id\":\"r{round}-b{batch}-{i}\",\"action\":\"crash-test\"}}}}\n"
            ));
        }
        let request = agent
            .post(format!("{url}/_bulk"))
            .header("authorization", format!("ApiKey {key}"))
            .content_type("application/x-ndjson");
        let Ok(mut response) = request.send(&body) else { break };
        let Ok(answer) = response.body_mut().read_json::<Value>() else { break };
        for item in answer["items"].as_array().into_iter().flatten() {
            let item = &item["create"];
            if item["status"] == 201 || item["status"] == 409 {
                acknowledged.push(item["_id"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    acknowledged
}

/// The health check (it needs no key).
fn health(url: &str) -> Option<Value> {
    ureq::get(format!("{url}/api/v1/health")).call().ok()?.body_mut().read_json().ok()
}

#[test]
#[allow(clippy::print_stderr)]
fn sigkill_during_ingest_and_executions_loses_and_doubles_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let rules = tempfile::tempdir().expect("tempdir");
    std::fs::write(rules.path().join("marker.toml"), MARKER_RULE).expect("write the rule");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut executions_seen = 0;
    let mut key = None;
    for round in 0..4 {
        let mut server =
            start(data.path(), &["--no-builtin-rules".as_ref(), "--rules".as_ref(), rules.path().as_os_str()], &[]);
        key = key.or(server.admin.clone());
        let key = key.clone().expect("the first start made an admin key");
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (url, stop, acknowledged) = (server.url.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let ids = ingest_until_killed(&url, &key, round, &stop);
                acknowledged.lock().expect("not poisoned").extend(ids);
            })
        };
        // Long enough for several executions (every second) and many bulk requests.
        std::thread::sleep(Duration::from_millis(1200 + 450 * round as u64));
        if let Some(h) = health(&server.url) {
            executions_seen += u64::from(h["rules_enabled"] == 1);
        }
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        sender.join().expect("the sender does not panic");
    }
    assert!(executions_seen > 0, "the rule was loaded and enabled in the rounds");

    // A last start evaluates whatever the killed ones left, then stops cleanly.
    let mut server =
        start(data.path(), &["--no-builtin-rules".as_ref(), "--rules".as_ref(), rules.path().as_os_str()], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = health(&server.url);
        if h.as_ref().is_some_and(|h| h["uncovered_events"] == 0 && h["events"].as_u64() > Some(0)) {
            break;
        }
        assert!(Instant::now() < deadline, "the rule caught up with every event: {h:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");

    let store = store::Sqlite::open(data.path()).expect("the store reopens");
    let mut stored = HashSet::new();
    let all = EventQuery { window: None, after: None, up_to: u64::MAX, limit: None, ordered: false, from_seq: 0 };
    store
        .scan(&all, &mut |event| {
            stored.insert(event.event_id);
            true
        })
        .expect("scan");
    let acknowledged = acknowledged.lock().expect("not poisoned");
    assert!(acknowledged.len() > 1000, "the test ingested enough to matter: {}", acknowledged.len());
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost, e.g. {:?}", lost.len(), lost.first());

    let mut alerted = Vec::new();
    store
        .alerts(&AlertFilter::default(), &mut |alert| {
            alerted.push(alert.document["kibana.alert.ancestors"][0]["id"].as_str().unwrap_or("").to_owned());
            true
        })
        .expect("alerts");
    let distinct: HashSet<&String> = alerted.iter().collect();
    assert_eq!(distinct.len(), alerted.len(), "an event alerted twice");
    let missing = stored.iter().filter(|id| !distinct.contains(id)).count();
    assert_eq!(missing, 0, "{missing} of {} stored events never alerted", stored.len());
    eprintln!(
        "4 kills: {} events acknowledged, {} stored (some sent but not acknowledged), {} alerts",
        acknowledged.len(),
        stored.len(),
        alerted.len()
    );
}

/// Runs `vigil ARGS` against the server at `url` with `key` (no key at all when it is empty).
pub(crate) fn cli(url: &str, key: &str, args: &[&str]) -> crate::Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command.args(args).env("VIGIL_SERVER", url).env_remove("VIGIL_API_KEY");
    if !key.is_empty() {
        command.env("VIGIL_API_KEY", key);
    }
    let out = command.output().expect("vigil runs");
    crate::Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn alerts_are_triaged_from_the_command_line_and_sigterm_stops_cleanly() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(data.path(), &[], &[]);
    let url = server.url.clone();
    let admin = server.admin.clone().expect("a fresh install shows its admin key once");
    let auth = format!("ApiKey {admin}");

    let samples =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-raw.ndjson")).expect("samples");
    ureq::post(format!("{url}/api/v1/events")).header("authorization", &auth).send(&samples[..]).expect("events sent");
    let run = format!("{url}/api/v1/rules/514121ce-c7b6-474a-8237-68ff71672379/run");
    ureq::post(run).header("authorization", &auth).send_empty().expect("ran");

    // An analyst key made on the host triages; the admin key is not needed for it.
    let keys = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["keys", "create", "--name", "alice", "--role", "analyst", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("vigil keys runs");
    assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));
    let alice = String::from_utf8_lossy(&keys.stdout).trim().to_owned();
    assert!(alice.starts_with("vgl_"), "{alice}");
    let refused = cli(&url, "vgl_nope_nope", &["alerts", "list"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("unknown API key"), "{}", refused.stderr);

    let listed = cli(&url, &alice, &["alerts", "list", "--status", "open", "--output", "jsonl"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let alerts: Vec<Value> = listed.stdout.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect();
    assert_eq!(alerts.len(), 1, "the samples hold one DKIM record (delivered twice)");
    let id = alerts[0]["id"].as_str().expect("an id").to_owned();

    let acked = cli(&url, &alice, &["alerts", "ack", &id, "--note", "checking"]);
    assert_eq!((acked.code, acked.stdout.trim()), (0, format!("acknowledged: {id}").as_str()));
    let shown = cli(&url, &alice, &["alerts", "show", &id, "--json"]);
    let alert: Value = serde_json::from_str(&shown.stdout).expect("JSON");
    assert_eq!(alert["status"], "acknowledged");
    assert!(alert["history"][0]["by"].as_str().is_some_and(|by| by.starts_with("alice (")), "{alert}");
    let closed = cli(&url, &alice, &["alerts", "close", &id, &"0".repeat(64)]);
    assert_eq!(closed.code, 1, "one id named no alert: {}", closed.stderr);
    assert!(closed.stderr.contains(&format!("no alert {}", "0".repeat(64))), "{}", closed.stderr);
    let table = cli(&url, &alice, &["alerts", "list", "--output", "table"]);
    assert!(table.stdout.contains("closed") && table.stdout.contains("1 of 1 alert;"), "{}", table.stdout);

    let status = cli(&url, &alice, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("events:   3 stored"), "{}", status.stdout);
    assert!(status.stdout.contains("alerts:   0 open, 0 acknowledged, 1 closed"), "{}", status.stdout);

    // Exception lists from the command line: tested before they are imported, imported by the
    // admin, an item added by the analyst, exported, and removed by the admin.
    let dir = tempfile::tempdir().expect("tempdir");
    let lists = dir.path().join("dkim.toml");
    std::fs::write(
        &lists,
        "[[lists]]\nlist_id = \"dkim-maintenance\"\nrules = [\"514121ce-c7b6-474a-8237-68ff71672379\"]\n\n\
         [[lists.items]]\nitem_id = \"it-admin\"\nentries = [{ field = \"user.name\", type = \"match\", operator = \"included\", value = \"it-admin\" }]\n",
    )
    .expect("write");
    let lists = lists.to_string_lossy().into_owned();
    let tested = cli(&url, &alice, &["exceptions", "test", &lists, "--days", "1"]);
    assert_eq!(tested.code, 0, "{}", tested.stderr);
    assert!(
        tested.stdout.contains(&id) && tested.stderr.contains("1 of the 1 alert of the last 1 day would"),
        "{}{}",
        tested.stdout,
        tested.stderr
    );
    let refused = cli(&url, &alice, &["exceptions", "import", &lists]);
    assert_eq!(refused.code, 2, "importing is the admin's: {}", refused.stderr);
    let imported = cli(&url, &admin, &["exceptions", "import", &lists]);
    assert!(imported.stdout.contains("1 list, 1 item, 0 value lists"), "{}{}", imported.stdout, imported.stderr);
    let added = cli(
        &url,
        &alice,
        &["exceptions", "add", "dkim-maintenance", "--item-id", "qa", "--match", "organization.id=qa-tenant"],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    let values = dir.path().join("office.txt");
    std::fs::write(&values, "10.0.0.0/8\n").expect("write");
    let uploaded =
        cli(&url, &admin, &["exceptions", "values", "office", "--type", "ip_range", &values.to_string_lossy()]);
    assert!(uploaded.stdout.contains("1 value (ip_range)"), "{}{}", uploaded.stdout, uploaded.stderr);
    let listed = cli(&url, &alice, &["exceptions", "list"]);
    assert!(listed.stdout.contains("dkim-maintenance") && listed.stdout.contains("2 items"), "{}", listed.stdout);
    let exported = cli(&url, &alice, &["exceptions", "export", "--format", "toml"]);
    assert!(
        exported.stdout.contains("item_id = \"qa\"") && exported.stdout.contains("[[value_lists]]"),
        "{}",
        exported.stdout
    );
    assert_eq!(cli(&url, &alice, &["exceptions", "remove", "dkim-maintenance"]).code, 2, "removing is the admin's");
    assert_eq!(cli(&url, &admin, &["exceptions", "remove", "dkim-maintenance", "qa"]).code, 0);
    let shown = cli(&url, &alice, &["exceptions", "show", "dkim-maintenance"]);
    let shown: Value = serde_json::from_str(&shown.stdout).expect("JSON");
    assert_eq!(shown["items"].as_array().map(Vec::len), Some(1));
    // (Left in place, it would remove the DKIM changes of it-admin sent next.)
    assert_eq!(cli(&url, &admin, &["exceptions", "remove", "dkim-maintenance"]).code, 0);

    // 101 more DKIM records than max_signals (100) takes: the one held back shows, and is trouble.
    let dkim = String::from_utf8_lossy(&samples).lines().next().expect("a first sample").to_owned();
    let many: String =
        (0..101).map(|i| dkim.replace("7c1e4a90-0d1f-4b6e-9a52-5f3c2b1d0a01", &format!("many-{i}")) + "\n").collect();
    ureq::post(format!("{url}/api/v1/events")).header("authorization", &auth).send(many.as_bytes()).expect("sent");
    let run = format!("{url}/api/v1/rules/514121ce-c7b6-474a-8237-68ff71672379/run");
    ureq::post(run).header("authorization", &auth).send_empty().expect("ran");
    let status = cli(&url, &alice, &["status"]);
    assert_eq!(status.code, 2, "a backlog is trouble: {}", status.stdout);
    assert!(status.stdout.contains("status:   degraded"), "{}", status.stdout);
    assert!(
        status.stdout.contains(
            "backlog:  Microsoft 365 Exchange DKIM Signing Configuration Disabled holds back 1 alert (max_signals 100)"
        ),
        "{}",
        status.stdout
    );

    let terminated =
        Command::new("sh").args(["-c", &format!("kill -TERM {}", server.child.id())]).status().expect("kill runs");
    assert!(terminated.success());
    let mut child = server.child;
    let exit = child.wait().expect("vigil serve ends");
    assert_eq!(exit.code(), Some(0), "a clean stop on SIGTERM");
    assert!(server.log.join().expect("log").contains("stopped"));

    let unreachable = cli(&url, &alice, &["status"]);
    assert_eq!(unreachable.code, 2);
    assert!(unreachable.stderr.contains("is `vigil serve` running there?"), "{}", unreachable.stderr);
}

#[test]
fn tls_serves_http2_and_http1_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A company CA and a server certificate it signed, as a deployment would have.
    let at = |name: &str| dir.path().join(name);
    let (ca, cert, key) = (at("ca.pem"), at("cert.pem"), at("key.pem"));
    std::fs::write(
        at("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let steps: [Vec<&str>; 3] = [
        [&["req", "-x509"][..], &ec, &["-days", "1", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem"]]
            .concat(),
        [&["req"][..], &ec, &["-subj", "/CN=vigil", "-keyout", "key.pem", "-out", "leaf.csr"]].concat(),
        vec!["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1"]
            .into_iter()
            .chain(["-extfile", "ext.cnf", "-out", "cert.pem"])
            .collect(),
    ];
    for step in steps {
        let made = Command::new("openssl")
            .args(&step)
            .current_dir(dir.path())
            .output()
            .expect("openssl runs (a test tool, as curl is)");
        assert!(made.status.success(), "openssl {step:?}: {}", String::from_utf8_lossy(&made.stderr));
    }
    let data = dir.path().join("data");
    let server = start(&data, &[], &[("VIGIL_TLS_CERT", &cert), ("VIGIL_TLS_KEY", &key)]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let admin = server.admin.clone().expect("an admin key");
    let curl = |version: &str, path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", version, "--cacert"])
            .arg(&ca)
            .args(["-H", &format!("Authorization: ApiKey {admin}"), &format!("{}{path}", server.url)])
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl("--http2", "/api/v1/alerts"), "2 200");
    assert_eq!(curl("--http1.1", "/api/v1/alerts"), "1.1 200");
    let status = cli(&server.url, &admin, &["status", "--ca-cert", ca.to_str().expect("utf-8")]);
    assert_eq!(status.code, 0, "vigil's own client over HTTPS: {}", status.stderr);
    let untrusted = cli(&server.url, &admin, &["status"]);
    assert_eq!(untrusted.code, 2, "a private CA is not trusted unless given");
    let plain = server.url.replace("https://", "http://");
    let refused =
        Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &plain]).output().expect("curl");
    assert_eq!(String::from_utf8_lossy(&refused.stdout), "000", "no plain HTTP on a TLS port");
    let mut child = server.child;
    child.kill().expect("stop");
    child.wait().expect("reaped");
}

/// A token endpoint that refuses every sign-in, keeping each request's body.
fn refusing_login() -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            while let Ok(n) = stream.read(&mut buffer) {
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        kept.lock().expect("lock").push(body.to_owned());
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let answer =
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, bodies)
}

#[test]
fn o365_secrets_are_used_but_never_logged() {
    let data = tempfile::tempdir().expect("tempdir");
    let (login, bodies) = refusing_login();
    let config = data.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[o365]\ninterval = \"1s\"\n\n[[o365.tenants]]\ntenant_id = \"t1\"\nclient_id = \"app\"\n\
             client_secret_env = \"TEST_O365_SECRET\"\nlogin_url = \"{login}\"\napi_url = \"{login}\"\n"
        ),
    )
    .expect("config");
    let secret = "Zq8~not-for-logs-4f1e";
    let mut server =
        start(data.path(), &["--config".as_ref(), config.as_os_str()], &[("TEST_O365_SECRET", Path::new(secret))]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies.lock().expect("lock").len() < 2 {
        assert!(Instant::now() < deadline, "vigil never tried to sign in");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        bodies.lock().expect("lock")[0].contains(&format!("client_secret={secret}")),
        "the secret is sent to the token endpoint: {:?}",
        bodies.lock().expect("lock")[0]
    );
    // `vigil status` says the tenant's pulls fail, and why.
    let admin = server.admin.clone().expect("the admin key");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = cli(&server.url, &admin, &["status"]);
        if status.stdout.contains("FAILING") || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code, 2, "failing pulls are trouble: {}", status.stdout);
    // The header agrees with the tenants (it said "ok" above a failing one).
    assert!(status.stdout.contains("status:   degraded\n"), "{}", status.stdout);
    assert!(status.stdout.contains("warning:  Office 365 pulls failing for t1\n"), "{}", status.stdout);
    assert!(status.stdout.contains("o365:     t1 FAILING; last error at "), "{}", status.stdout);
    assert!(status.stdout.contains("AADSTS7000215") && !status.stdout.contains(secret), "{}", status.stdout);
    assert!(
        status.stdout.contains("Audit.Exchange              no content yet, 0 records from 0 blobs"),
        "{}",
        status.stdout
    );
    server.child.kill().expect("kill");
    let _ = server.child.wait();
    let log = server.log.join().expect("log");
    assert!(log.contains("o365: pull failed"), "the failure is logged: {log}");
    assert!(log.contains("AADSTS7000215"), "with Microsoft's reason: {log}");
    assert!(!log.contains(secret) && !log.contains("not-for-logs"), "the secret is never logged: {log}");

    // Without the variable, vigil serve does not start, and says which tenant lacks what.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("TEST_O365_SECRET")
        .output()
        .expect("vigil serve runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("o365 tenant t1: no credential: TEST_O365_SECRET is not set"), "{stderr}");
}
