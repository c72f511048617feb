//! Notifications end to end, with real receivers on loopback: the DKIM alert of the samples
//! reaches a webhook (signed), Slack- and Teams-shaped receivers, PagerDuty's shape, a real SMTP
//! server (Python's aiosmtpd), syslog over UDP and TCP, and a file; a receiver that is down is
//! sent to after it recovers, none lost, none twice by key; a stalled one holds up nothing
//! else; `vigil serve` killed with SIGKILL between commit and send delivers after the restart.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::{Server, start};

/// One request an HTTP receiver took.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// An HTTP receiver that answers `status`, or never answers while `stalled`.
pub(crate) struct Receiver {
    port: u16,
    taken: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
    stalled: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let receiver =
            Receiver { port, taken: Arc::default(), status: Arc::new(AtomicU16::new(200)), stalled: Arc::default() };
        let (taken, status, stalled) = (receiver.taken.clone(), receiver.status.clone(), receiver.stalled.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (taken, status, stalled) = (taken.clone(), status.clone(), stalled.clone());
                std::thread::spawn(move || serve_one(stream, &taken, &status, &stalled));
            }
        });
        receiver
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.taken.lock().expect("the receiver's list").clone()
    }

    /// The idempotency keys of the requests it accepted.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.requests().iter().filter_map(|r| r.headers.get("idempotency-key").cloned()).collect()
    }
}

fn serve_one(stream: TcpStream, taken: &Mutex<Vec<Request>>, status: &AtomicU16, stalled: &AtomicBool) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    while stalled.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = status.load(Ordering::SeqCst);
    if code == 200 {
        let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
        taken.lock().expect("the list").push(Request { path, headers, body: String::from_utf8_lossy(&body).into() });
    }
    let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let _ = reader.into_inner().write_all(answer.as_bytes());
}

/// Python's aiosmtpd, a real SMTP server, writing what it takes to a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Smtp {
    fn start(dir: &Path) -> Smtp {
        let has = || Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !has() {
            // `.ci/run` installs it; elsewhere the test installs it as CI does, or fails saying so.
            let _ = Command::new("python3").args(["-m", "pip", "install", "-q", "aiosmtpd"]).status();
            assert!(has(), "the SMTP test needs Python's aiosmtpd: `python3 -m pip install aiosmtpd` failed");
        }
        let port = TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("an address").port();
        let maildir = dir.join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Smtp { child, port, maildir }
    }

    /// The mails it took, as their raw text with folded header lines unfolded.
    fn mails(&self) -> Vec<String> {
        let dir = self.maildir.join("new");
        let mut files: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|m| m.replace("\r\n", "\n").replace("\n ", " "))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A syslog listener over UDP and TCP (octet-counted frames).
struct Syslog {
    udp: u16,
    tcp: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Syslog {
    fn start() -> Syslog {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
        let udp = socket.local_addr().expect("an address").port();
        let got = lines.clone();
        std::thread::spawn(move || {
            let mut buffer = [0; 65_536];
            while let Ok(n) = socket.recv(&mut buffer) {
                got.lock().expect("lines").push(format!("udp {}", String::from_utf8_lossy(&buffer[..n])));
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
        let tcp = listener.local_addr().expect("an address").port();
        let got = lines.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut text = String::new();
                let _ = BufReader::new(stream).read_to_string(&mut text);
                // `LEN SP MSG`, repeated.
                let mut rest = text.as_str();
                while let Some((len, after)) = rest.split_once(' ') {
                    let Ok(len) = len.parse::<usize>() else { break };
                    got.lock().expect("lines").push(format!("tcp {}", &after[..len.min(after.len())]));
                    rest = &after[len.min(after.len())..];
                }
            }
        });
        Syslog { udp, tcp, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

fn dkim_rule_id() -> String {
    rules::builtin().rules[0].id.0.clone()
}

/// The configuration: every connector, each routed the DKIM rule's alerts one by one.
fn config(dir: &Path, hook: &Receiver, pd: &Receiver, smtp: &Smtp, syslog: &Syslog) -> PathBuf {
    let rule = dkim_rule_id();
    let mut text = format!(
        r#"
[notifications]
retry_base = "1s"
timeout = "2s"
public_url = "https://vigil.example.test"

[[connectors]]
name = "hook"
type = "webhook"
url = "{hook}"
headers = {{ X-Team = "soc" }}
signing_key = {{ env = "HOOK_KEY" }}

[[connectors]]
name = "slack"
type = "slack"
url = {{ env = "SLACK_URL" }}

[[connectors]]
name = "teams"
type = "teams"
url = {{ file = "teams-url" }}

[[connectors]]
name = "pagerduty"
type = "pagerduty"
routing_key = {{ env = "PD_KEY" }}
url = "{pd}"

[[connectors]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {smtp}
security = "none"
from = "vigil <vigil@example.test>"
to = ["soc@example.test", "oncall@example.test"]

[[connectors]]
name = "syslog-udp"
type = "syslog"
address = "127.0.0.1:{udp}"

[[connectors]]
name = "syslog-tcp"
type = "syslog"
address = "127.0.0.1:{tcp}"
transport = "tcp"
facility = "local4"

[[connectors]]
name = "archive"
type = "file"
path = "alerts.ndjson"
"#,
        hook = hook.url("/hook"),
        pd = pd.url("/v2/enqueue"),
        smtp = smtp.port,
        udp = syslog.udp,
        tcp = syslog.tcp,
    );
    for connector in ["hook", "slack", "teams", "pagerduty", "mail", "syslog-udp", "syslog-tcp", "archive"] {
        text.push_str(&format!("\n[[routes]]\nconnector = \"{connector}\"\nrules = [\"{rule}\"]\n"));
    }
    let path = dir.join("vigil.toml");
    std::fs::write(&path, text).expect("the configuration is written");
    path
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn call(server: &Server, method: &str, path: &str, body: &str) -> Value {
    let key = server.admin.clone().expect("the admin key of a new data directory");
    let url = format!("{}{path}", server.url);
    let auth = format!("ApiKey {key}");
    let response = match method {
        "GET" => agent().get(&url).header("authorization", &auth).call(),
        _ => agent().post(&url).header("authorization", &auth).content_type("application/x-ndjson").send(body),
    };
    let text = response.expect("the server answers").body_mut().read_to_string().expect("a body");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Ingests the repository's ECS samples (old events: late, alerted by the next execution).
/// Ingests the samples once the new server's first scheduled execution of the DKIM rule (due at
/// start) has run: otherwise, on a busy machine, it may run after the ingest, alert first, and
/// leave the tests' own `run_dkim` nothing to alert.
fn ingest_samples(server: &Server) {
    let path = format!("/api/v1/rules/{}/executions", dkim_rule_id());
    wait_until("the first scheduled execution", Duration::from_secs(60), || {
        call(server, "GET", &path, "")["executions"].as_array().is_some_and(|e| !e.is_empty())
    });
    let samples = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-ecs.ndjson"))
        .expect("the samples");
    let mut body = String::new();
    for line in samples.lines().filter(|l| !l.trim().is_empty()) {
        body.push_str("{\"create\":{\"_index\":\"logs-o365.audit-default\"}}\n");
        body.push_str(line);
        body.push('\n');
    }
    let answer = call(server, "POST", "/_bulk", &body);
    assert_eq!(answer["errors"], false, "{answer}");
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Setup {
    dir: tempfile::TempDir,
    hook: Receiver,
    slack: Receiver,
    teams: Receiver,
    pd: Receiver,
    smtp: Smtp,
    syslog: Syslog,
    config: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("a folder");
        let (hook, slack, teams, pd) = (Receiver::start(), Receiver::start(), Receiver::start(), Receiver::start());
        let (smtp, syslog) = (Smtp::start(dir.path()), Syslog::start());
        std::fs::write(dir.path().join("teams-url"), teams.url("/teams")).expect("a secret file");
        let config = config(dir.path(), &hook, &pd, &smtp, &syslog);
        Setup { dir, hook, slack, teams, pd, smtp, syslog, config }
    }

    fn start(&self) -> Server {
        let slack = self.slack.url("/slack");
        let env = [
            ("HOOK_KEY", Path::new("hook-secret")),
            ("SLACK_URL", Path::new(&slack)),
            ("PD_KEY", Path::new("pd-routing-key")),
        ];
        let args = [std::ffi::OsStr::new("--config"), self.config.as_os_str()];
        start(&self.dir.path().join("data"), &args, &env)
    }
}

fn run_dkim(server: &Server) -> Value {
    call(server, "POST", &format!("/api/v1/rules/{}/run", dkim_rule_id()), "")
}

#[test]
fn the_dkim_alert_reaches_every_receiver_once() {
    let setup = Setup::new();
    let mut server = setup.start();
    ingest_samples(&server);
    let run = run_dkim(&server);
    let alerts = run["alerts"].as_u64().expect("an execution record");
    assert!(alerts >= 1, "the samples hold DKIM alerts: {run}");
    assert_eq!(run["notifications"], alerts * 8, "one per alert and connector: {run}");

    let http = [&setup.hook, &setup.slack, &setup.teams, &setup.pd];
    wait_until("every receiver", Duration::from_secs(60), || {
        http.iter().all(|r| r.requests().len() as u64 == alerts)
            && setup.smtp.mails().len() as u64 == alerts
            && setup.syslog.lines().len() as u64 == alerts * 2
            && std::fs::read_to_string(setup.dir.path().join("alerts.ndjson"))
                .is_ok_and(|t| t.lines().count() as u64 == alerts)
    });

    // The webhook: its body signed with HMAC-SHA256, its own header, the alert id as its key.
    let hook = &setup.hook.requests()[0];
    assert_eq!(hook.path, "/hook");
    assert_eq!(hook.headers.get("x-team").map(String::as_str), Some("soc"));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hook-secret");
    let signature = hook.headers.get("x-vigil-signature-256").expect("a signature");
    let hex: String =
        ring::hmac::sign(&key, hook.body.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signature, &format!("sha256={hex}"));
    let body: Value = serde_json::from_str(&hook.body).expect("a JSON body");
    let alert_id = hook.headers.get("idempotency-key").expect("a key").clone();
    assert_eq!(body["key"], alert_id.as_str());
    assert_eq!(body["rule"]["name"], "Microsoft 365 Exchange DKIM Signing Configuration Disabled");
    assert_eq!(body["link"], format!("https://vigil.example.test/ui/alerts/{alert_id}"));

    // Slack and Teams shapes; PagerDuty's, with the routing key and the alert id as dedup key.
    let slack: Value = serde_json::from_str(&setup.slack.requests()[0].body).expect("JSON");
    assert!(
        slack["text"]
            .as_str()
            .is_some_and(|t| t.contains("*Microsoft 365 Exchange DKIM Signing Configuration Disabled*")),
        "{slack}"
    );
    let teams: Value = serde_json::from_str(&setup.teams.requests()[0].body).expect("JSON");
    assert_eq!(teams["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");
    let pd: Value = serde_json::from_str(&setup.pd.requests()[0].body).expect("JSON");
    assert_eq!((pd["routing_key"].as_str(), pd["event_action"].as_str()), (Some("pd-routing-key"), Some("trigger")));
    assert!(setup.pd.requests().iter().any(|r| r.body.contains(&format!("\"dedup_key\":\"{alert_id}\""))));
    assert_eq!(pd["payload"]["severity"], "warning", "medium is PagerDuty's warning");

    // The mail: subject, both recipients, a text and an HTML part with the reason.
    let mail = &setup.smtp.mails()[0];
    assert!(
        mail.contains("Subject: [vigil] medium: Microsoft 365 Exchange DKIM Signing Configuration Disabled"),
        "{mail}"
    );
    assert!(mail.contains("soc@example.test") && mail.contains("oncall@example.test"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"), "{mail}");
    assert!(mail.contains("Message-ID: <"), "{mail}");

    // Syslog: RFC 5424 over UDP (facility 13, medium → warning 4: PRI 108) and TCP (local4: 164).
    let lines = setup.syslog.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("udp <108>1 ") && l.contains(" vigil - alert [vigil@32473 key=\"")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("tcp <164>1 ")), "{lines:?}");

    // The outbox says all were sent; the metrics count them.
    let sent = call(&server, "GET", "/api/v1/notifications?status=sent&limit=1000", "");
    assert_eq!(sent["notifications"].as_array().map(Vec::len), Some(alerts as usize * 8), "{sent}");
    let metrics = call(&server, "GET", "/metrics", "");
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains(&format!("vigil_notifications_total{{connector=\"hook\",outcome=\"sent\"}} {alerts}")),
        "{metrics}"
    );
    assert!(metrics.contains("vigil_notification_oldest_pending_seconds 0"), "{metrics}");

    // Run again: no new alert, nothing sent twice.
    let again = run_dkim(&server);
    assert_eq!((again["alerts"].as_u64(), again["notifications"].as_u64()), (Some(0), Some(0)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(setup.hook.requests().len() as u64, alerts);

    // The connector test, through the API and the command line.
    let test = call(&server, "POST", "/api/v1/connectors/slack/_test", "");
    assert_eq!(test["delivered"], true, "{test}");
    let _ = server.child.kill();
    let _ = server.child.wait();
    let config = setup.config.to_str().expect("a UTF-8 path");
    let slack_url = setup.slack.url("/slack");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["connectors", "test", "mail", "--config", config])
        .env("HOOK_KEY", "k")
        .env("SLACK_URL", &slack_url)
        .env("PD_KEY", "p")
        .output()
        .expect("vigil runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("the test mail", Duration::from_secs(20), || {
        setup.smtp.mails().iter().any(|m| m.contains("Subject: [vigil] medium: vigil test message through mail"))
    });
}

#[test]
fn a_receiver_down_stalled_or_a_kill_loses_nothing_and_holds_up_nothing() {
    let setup = Setup::new();
    // The webhook is down (503) and Slack stalls (never answers) from the start.
    setup.hook.status.store(503, Ordering::SeqCst);
    setup.slack.stalled.store(true, Ordering::SeqCst);
    let mut server = setup.start();
    ingest_samples(&server);
    let started = Instant::now();
    let run = run_dkim(&server);
    let alerts = run["alerts"].as_u64().expect("an execution record");
    assert!(started.elapsed() < Duration::from_secs(10), "executions do not wait for receivers");
    // The others deliver while Slack stalls and the webhook fails.
    wait_until("the receivers that work", Duration::from_secs(60), || {
        setup.teams.requests().len() as u64 == alerts && setup.pd.requests().len() as u64 == alerts
    });
    let pending = call(&server, "GET", "/api/v1/notifications?status=pending&connector=hook", "");
    let first = &pending["notifications"][0];
    assert!(
        first["attempts"].as_u64() >= Some(1) && first["last_error"].as_str().is_some_and(|e| e.contains("503")),
        "{pending}"
    );

    // Killed between commit and send: the webhook's notifications are committed, not sent.
    let admin = server.admin.clone();
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    setup.hook.status.store(200, Ordering::SeqCst);
    setup.slack.stalled.store(false, Ordering::SeqCst);
    let mut server = setup.start();
    server.admin = admin;
    wait_until("the webhook and Slack after the restart", Duration::from_secs(60), || {
        setup.hook.keys().iter().collect::<HashSet<_>>().len() as u64 == alerts
            && setup.slack.keys().iter().collect::<HashSet<_>>().len() as u64 >= alerts
    });
    // At least once: by key, each alert exactly once; nothing pending or failed.
    let keys: HashSet<String> = setup.hook.keys().into_iter().collect();
    assert_eq!(keys.len() as u64, alerts);
    wait_until("an empty outbox", Duration::from_secs(30), || {
        let page = call(&server, "GET", "/api/v1/notifications?status=pending", "");
        page["notifications"].as_array().is_some_and(Vec::is_empty)
    });
    let failed = call(&server, "GET", "/api/v1/notifications?status=failed", "");
    assert_eq!(failed["notifications"].as_array().map(Vec::len), Some(0), "{failed}");
    let _ = server.child.kill();
    let _ = server.child.wait();
}
