//! Sending one message through one connector: HTTP (webhook, Slack, Teams, PagerDuty), SMTP,
//! syslog, a file. Every message carries its idempotency key, so a receiver can drop a repeat
//! (delivery is at least once).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ecs::date::Timestamp;
use serde_json::{Value, json};

use crate::config::{Connector, Email, Kind, Security, SyslogTransport};

/// Why a message was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What happened, for people (no secret in it).
    pub message: String,
    /// Whether trying again cannot help (the receiver refused the message itself).
    pub permanent: bool,
}

impl SendError {
    fn retry(message: impl Into<String>) -> SendError {
        SendError { message: message.into(), permanent: false }
    }
}

/// The header a webhook's HMAC-SHA256 signature of its body goes in: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature-256";

/// Sends `message` (as [`crate::Notifier`] rendered it) with idempotency key `key`, waiting at
/// most `timeout` for the receiver.
///
/// # Errors
///
/// When the receiver cannot be reached, does not answer in time, or refuses the message.
pub fn send(connector: &Connector, key: &str, message: &Value, timeout: Duration) -> Result<(), SendError> {
    match &connector.kind {
        Kind::Webhook { url, method, headers, signing_key } => {
            let body = message.get("body").and_then(Value::as_str).unwrap_or_default();
            let mut extra: Vec<(String, String)> =
                headers.iter().map(|(name, value)| (name.clone(), value.expose().to_owned())).collect();
            if let Some(secret) = signing_key {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose().as_bytes());
                let tag = ring::hmac::sign(&key, body.as_bytes());
                let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                extra.push((SIGNATURE_HEADER.to_owned(), format!("sha256={hex}")));
            }
            http(method, url.expose(), key, body, &extra, timeout)
        }
        Kind::Slack { url } | Kind::Teams { url } => {
            http("POST", url.expose(), key, &message.to_string(), &[], timeout)
        }
        Kind::PagerDuty { routing_key, url } => {
            let mut event = message.clone();
            event["routing_key"] = json!(routing_key.expose());
            http("POST", url, key, &event.to_string(), &[], timeout)
        }
        Kind::Email(email) => smtp(email, key, message, timeout),
        Kind::Syslog { address, transport, facility, app_name, ca_file } => {
            let line = syslog_line(*facility, app_name, key, message);
            syslog(address, *transport, ca_file.as_deref(), line.as_bytes(), timeout)
        }
        Kind::File { path } => {
            let mut line = json!({"key": key, "connector": connector.name});
            if let (Value::Object(out), Value::Object(rest)) = (&mut line, message) {
                out.extend(rest.clone());
            }
            append(path, &line.to_string())
        }
    }
}

fn http(
    method: &str,
    url: &str,
    key: &str,
    body: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<(), SendError> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into();
    let mut request = match method {
        "PUT" => ureq::http::Request::put(url),
        _ => ureq::http::Request::post(url),
    }
    .header("Content-Type", "application/json")
    .header("Idempotency-Key", key)
    .header("User-Agent", concat!("vigil/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request.body(body.to_owned()).map_err(|e| SendError { message: e.to_string(), permanent: true })?;
    // The URL is not in the errors: Slack's and Teams' carry their secret.
    let response = agent
        .run(request)
        .map_err(|e| SendError::retry(format!("cannot reach the receiver: {}", describe(&e, url))))?;
    let status = response.status().as_u16();
    let answer = response.into_body().read_to_string().unwrap_or_default();
    let answer: String = answer.chars().take(200).collect();
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SendError::retry(format!("the receiver answered {status}: {answer}"))),
        _ => Err(SendError { message: format!("the receiver refused it with {status}: {answer}"), permanent: true }),
    }
}

/// A ureq error without the URL it may carry (Slack's and Teams' hold their secret).
fn describe(err: &ureq::Error, url: &str) -> String {
    match err {
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        ureq::Error::Io(io) => io.kind().to_string(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::Tls(tls) => format!("TLS: {tls}"),
        other => other.to_string().replace(url, "the URL"),
    }
}

fn smtp(email: &Email, key: &str, message: &Value, timeout: Duration) -> Result<(), SendError> {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{SmtpTransport, Transport};

    let bad = |what: &str, e: &dyn std::fmt::Display| SendError { message: format!("{what}: {e}"), permanent: true };
    let text = |field: &str| message.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
    let list = |field: &str| -> Vec<String> {
        message
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let mut builder = lettre::Message::builder()
        .from(email.from.parse::<Mailbox>().map_err(|e| bad("`from`", &e))?)
        .subject(text("subject"))
        .message_id(Some(format!("<{key}@vigil>")));
    for to in list("to") {
        builder = builder.to(to.parse::<Mailbox>().map_err(|e| bad("a recipient", &e))?);
    }
    for cc in list("cc") {
        builder = builder.cc(cc.parse::<Mailbox>().map_err(|e| bad("a recipient", &e))?);
    }
    for bcc in list("bcc") {
        builder = builder.bcc(bcc.parse::<Mailbox>().map_err(|e| bad("a recipient", &e))?);
    }
    let mail = builder
        .multipart(MultiPart::alternative_plain_html(text("text"), text("html")))
        .map_err(|e| bad("the message", &e))?;
    let tls = || -> Result<TlsParameters, SendError> {
        let mut params = TlsParameters::builder(email.host.clone());
        if let Some(path) = &email.ca_file {
            let pem = std::fs::read(path).map_err(|e| bad(&format!("cannot read {}", path.display()), &e))?;
            params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| bad("ca_file", &e))?);
        }
        params.build_rustls().map_err(|e| bad("TLS", &e))
    };
    let mut transport = SmtpTransport::builder_dangerous(email.host.clone()).port(email.port).timeout(Some(timeout));
    transport = match email.security {
        Security::StartTls => transport.tls(Tls::Required(tls()?)),
        Security::Tls => transport.tls(Tls::Wrapper(tls()?)),
        Security::None => transport.tls(Tls::None),
    };
    if let Some((user, password)) = &email.credentials {
        transport = transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    transport
        .build()
        .send(&mail)
        .map(|_| ())
        .map_err(|e| SendError { message: format!("SMTP: {e}"), permanent: e.is_permanent() })
}

/// An RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP - MSGID [vigil@32473 key=".." rule=".."] MSG`.
fn syslog_line(facility: u8, app_name: &str, key: &str, message: &Value) -> String {
    let severity = match message.get("severity").and_then(Value::as_str) {
        Some("critical") => 2,
        Some("high") => 3,
        Some("medium") => 4,
        _ => 5,
    };
    let sd = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(' '))
        .unwrap_or_else(|| "-".to_owned());
    let field = |name: &str| message.get(name).and_then(Value::as_str).unwrap_or_default();
    format!(
        "<{}>1 {} {host} {app_name} - {} [vigil@32473 key=\"{}\" rule=\"{}\"] {}",
        u16::from(facility) * 8 + severity,
        Timestamp::now(),
        if field("msgid").is_empty() { "-" } else { field("msgid") },
        sd(key),
        sd(field("rule_id")),
        field("text"),
    )
}

fn syslog(
    address: &str,
    transport: SyslogTransport,
    ca_file: Option<&Path>,
    line: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    fn io(what: &'static str) -> impl Fn(std::io::Error) -> SendError {
        move |e| SendError::retry(format!("syslog {what}: {e}"))
    }
    let target = address
        .to_socket_addrs()
        .map_err(io("address"))?
        .next()
        .ok_or_else(|| SendError::retry(format!("syslog address {address} resolves to nothing")))?;
    if transport == SyslogTransport::Udp {
        let socket = UdpSocket::bind(if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).map_err(io("socket"))?;
        socket.send_to(line, target).map_err(io("send"))?;
        return Ok(());
    }
    // Octet counting (RFC 6587 / RFC 5425): the length, a space, the message.
    let mut frame = format!("{} ", line.len()).into_bytes();
    frame.extend_from_slice(line);
    let mut tcp = TcpStream::connect_timeout(&target, timeout).map_err(io("connect"))?;
    tcp.set_write_timeout(Some(timeout)).map_err(io("connect"))?;
    tcp.set_read_timeout(Some(timeout)).map_err(io("connect"))?;
    if transport == SyslogTransport::Tcp {
        tcp.write_all(&frame).map_err(io("send"))?;
        return tcp.flush().map_err(io("send"));
    }
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| SendError { message: format!("cannot read {}: {e}", path.display()), permanent: true })?;
        for cert in certs {
            let cert = cert.map_err(|e| SendError { message: format!("{}: {e}", path.display()), permanent: true })?;
            roots.add(cert).map_err(|e| SendError { message: format!("{}: {e}", path.display()), permanent: true })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| SendError { message: format!("TLS: {e}"), permanent: true })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host).trim_matches(['[', ']']);
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| SendError { message: format!("syslog host {host}: {e}"), permanent: true })?;
    let connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| SendError::retry(format!("TLS: {e}")))?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    stream.write_all(&frame).map_err(io("send"))?;
    stream.flush().map_err(io("send"))?;
    stream.conn.send_close_notify();
    stream.flush().map_err(io("send"))
}

fn append(path: &Path, line: &str) -> Result<(), SendError> {
    let io = |e: std::io::Error| SendError::retry(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    file.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
    // Marked sent only once it is on disk.
    file.sync_data().map_err(io)
}
