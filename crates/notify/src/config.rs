//! The serve configuration's `[notifications]`, `[[connectors]]` and `[[routes]]`, as written,
//! and their validation into [`Connector`]s and [`Route`]s.
//!
//! Secrets (webhook URLs of Slack and Teams, PagerDuty routing keys, SMTP passwords, signing
//! keys, secret headers) are never written in the file: each names an environment variable
//! (`{ env = "SLACK_URL" }`) or a file (`{ file = "/run/secrets/slack" }`), read when the
//! service starts and never logged.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rules::{Interval, Severity};
use serde::Deserialize;
use template::Template;
use toml::Spanned;

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SecretFile {
    /// Written in the file: only allowed where the value is not a secret (a webhook URL).
    Plain(String),
    /// `{ env = "NAME" }` or `{ file = "path" }`.
    From(SecretFrom),
}

/// `{ env = "NAME" }` or `{ file = "path" }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFrom {
    env: Option<String>,
    file: Option<PathBuf>,
}

/// A secret's value, read at start; its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `[notifications]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    /// How long a notification is retried before it is marked failed (default `24h`).
    pub retry_for: Option<String>,
    /// How long one attempt may take (default `30s`).
    pub timeout: Option<String>,
    /// The wait after a first failed attempt, doubled after each next one up to 15 minutes
    /// (default `5s`).
    pub retry_base: Option<String>,
    /// The address people reach the console at, for links (`https://vigil.example.com`).
    pub public_url: Option<String>,
}

/// One `[[connectors]]` entry as written: every key of every type, checked against its `type`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFile {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    url: Option<SecretFile>,
    method: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    secret_headers: Option<BTreeMap<String, SecretFile>>,
    signing_key: Option<SecretFile>,
    body: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
    username: Option<String>,
    password: Option<SecretFile>,
    from: Option<String>,
    to: Option<Vec<String>>,
    cc: Option<Vec<String>>,
    bcc: Option<Vec<String>>,
    routing_key: Option<SecretFile>,
    address: Option<String>,
    transport: Option<String>,
    facility: Option<String>,
    app_name: Option<String>,
    ca_file: Option<PathBuf>,
    path: Option<PathBuf>,
}

/// One `[[routes]]` entry: which alerts of rules without actions of their own go to a connector.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    connector: String,
    /// Rule ids or names; none: every rule.
    rules: Option<Vec<String>>,
    /// Rules with any of these tags.
    tags: Option<Vec<String>>,
    /// Alerts of this severity or above.
    severity_at_least: Option<String>,
    /// One message per execution (true) or per alert (false, the default).
    summary: Option<bool>,
    /// At most one message this often (summaries).
    throttle: Option<String>,
    /// Params overriding the connector's default message (templates).
    params: Option<BTreeMap<String, Spanned<String>>>,
}

/// How a connector reaches its receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request with a JSON body of its own, signed with HMAC-SHA256 when a key is set.
    Webhook {
        /// Where to.
        url: Secret,
        /// `POST` (default) or `PUT`.
        method: String,
        /// Headers sent as they are, then the secret ones.
        headers: Vec<(String, Secret)>,
        /// The key of the `X-Vigil-Signature` header, if any.
        signing_key: Option<Secret>,
    },
    /// A Slack incoming webhook.
    Slack {
        /// The webhook URL (a secret).
        url: Secret,
    },
    /// A Microsoft Teams incoming webhook or workflow URL, sent an Adaptive Card.
    Teams {
        /// The URL (a secret).
        url: Secret,
    },
    /// Mail over SMTP.
    Email(Box<Email>),
    /// PagerDuty Events API v2.
    PagerDuty {
        /// The integration's routing key (a secret).
        routing_key: Secret,
        /// The events endpoint (default PagerDuty's).
        url: String,
    },
    /// RFC 5424 syslog.
    Syslog {
        /// `host:port`.
        address: String,
        /// UDP, TCP or TLS.
        transport: SyslogTransport,
        /// The facility number (default 13, log audit... `local4` is 20).
        facility: u8,
        /// APP-NAME (default `vigil`).
        app_name: String,
        /// Extra trusted roots for TLS.
        ca_file: Option<PathBuf>,
    },
    /// Lines of NDJSON appended to a file.
    File {
        /// The file.
        path: PathBuf,
    },
}

/// The SMTP settings of an email connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// The server.
    pub host: String,
    /// Its port (default 587 with STARTTLS, 465 with TLS, 25 without).
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
    /// Sign-in, when the server asks for it.
    pub credentials: Option<(String, Secret)>,
    /// The sender.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Copied.
    pub cc: Vec<String>,
    /// Blind-copied.
    pub bcc: Vec<String>,
    /// Extra trusted roots (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// How an SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text (a relay on the same host only).
    None,
}

/// How syslog messages travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTransport {
    /// One datagram per message (RFC 5426).
    Udp,
    /// Octet-counted frames over TCP (RFC 6587).
    Tcp,
    /// Octet-counted frames over TLS (RFC 5425).
    Tls,
}

/// A connector, validated, its secrets read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connector {
    /// Its name: what actions (`id`) and routes name.
    pub name: String,
    /// How it sends.
    pub kind: Kind,
    /// Templates replacing its default message, by param (`message`, `subject`, `body`).
    pub params: BTreeMap<String, std::sync::Arc<Template>>,
}

impl Connector {
    /// `webhook`, `slack`, `teams`, `email`, `pagerduty`, `syslog` or `file`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Webhook { .. } => "webhook",
            Kind::Slack { .. } => "slack",
            Kind::Teams { .. } => "teams",
            Kind::Email(_) => "email",
            Kind::PagerDuty { .. } => "pagerduty",
            Kind::Syslog { .. } => "syslog",
            Kind::File { .. } => "file",
        }
    }
}

/// A route, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The connector.
    pub connector: String,
    /// Rule ids or names (empty: every rule).
    pub rules: Vec<String>,
    /// Rule tags (empty: any).
    pub tags: Vec<String>,
    /// The lowest alert severity sent.
    pub severity_at_least: Option<Severity>,
    /// How often.
    pub frequency: rules::actions::Frequency,
    /// Params overriding the connector's.
    pub params: BTreeMap<String, std::sync::Arc<Template>>,
}

/// `[notifications]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long a notification is retried.
    pub retry_for: Interval,
    /// How long one attempt may take.
    pub timeout: Interval,
    /// The wait after a first failed attempt.
    pub retry_base: Interval,
    /// The console's address for links (no trailing `/`).
    pub public_url: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            retry_for: Interval::from_seconds(86_400),
            timeout: Interval::from_seconds(30),
            retry_base: Interval::from_seconds(5),
            public_url: "http://127.0.0.1:9270".into(),
        }
    }
}

/// Everything about notifications in the configuration, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyFile {
    /// `[notifications]`.
    pub settings: SettingsFile,
    /// `[[connectors]]`.
    pub connectors: Vec<ConnectorFile>,
    /// `[[routes]]`.
    pub routes: Vec<RouteFile>,
}

/// Notifications, validated: connectors by name, routes, settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// The connectors.
    pub connectors: Vec<Connector>,
    /// The routes.
    pub routes: Vec<Route>,
    /// The settings.
    pub settings: Settings,
}

impl Setup {
    /// The connector named `name`.
    pub fn connector(&self, name: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.name == name)
    }
}

/// Where the configuration came from, to place errors: the file's text, and its folder for
/// relative paths.
pub struct Origin<'a> {
    /// The file's text (empty when there is none).
    pub text: &'a str,
    /// Its folder.
    pub base: &'a Path,
    /// The service's own address, for links when `public_url` is not set.
    pub default_url: String,
}

impl NotifyFile {
    /// Validates the notifications configuration; `env` reads variables (secrets named with
    /// `env`). Relative paths are taken from `origin.base`.
    ///
    /// # Errors
    ///
    /// What is wrong, for people: a template that does not parse with `line:column` in the file,
    /// a key that does not apply to a connector's type, a missing secret, an unknown connector.
    pub fn validate(&self, origin: &Origin<'_>, env: &dyn Fn(&str) -> Option<String>) -> Result<Setup, String> {
        let defaults = Settings::default();
        let interval = |text: &Option<String>, default: Interval, key: &str| match text {
            None => Ok(default),
            Some(text) => Interval::parse(text).map_err(|e| format!("[notifications] {key}: {e}")),
        };
        let settings = Settings {
            retry_for: interval(&self.settings.retry_for, defaults.retry_for, "retry_for")?,
            timeout: interval(&self.settings.timeout, defaults.timeout, "timeout")?,
            retry_base: interval(&self.settings.retry_base, defaults.retry_base, "retry_base")?,
            public_url: self
                .settings
                .public_url
                .clone()
                .unwrap_or_else(|| origin.default_url.clone())
                .trim_end_matches('/')
                .to_owned(),
        };
        let mut connectors: Vec<Connector> = Vec::new();
        for file in &self.connectors {
            if connectors.iter().any(|c| c.name == file.name) {
                return Err(format!("connector `{}` is configured twice", file.name));
            }
            connectors.push(file.validate(origin, env).map_err(|e| format!("connector `{}`: {e}", file.name))?);
        }
        let mut routes = Vec::new();
        for (i, file) in self.routes.iter().enumerate() {
            let route = file.validate(origin).map_err(|e| format!("route {}: {e}", i + 1))?;
            if !connectors.iter().any(|c| c.name == route.connector) {
                return Err(format!("route {}: no connector is named `{}`", i + 1, route.connector));
            }
            routes.push(route);
        }
        Ok(Setup { connectors, routes, settings })
    }
}

/// A template of the file, parsed; an error says where in the file.
fn template(origin: &Origin<'_>, key: &str, spanned: &Spanned<String>) -> Result<std::sync::Arc<Template>, String> {
    Template::parse(spanned.get_ref()).map(std::sync::Arc::new).map_err(|err| {
        let at = place(origin.text, spanned.span(), spanned.get_ref(), err.offset);
        let (line, column) = template::TemplateError { message: String::new(), offset: at }.line_column(origin.text);
        format!("line {line}, column {column}: `{key}` is not a valid template: {err}")
    })
}

/// The byte of the file where byte `offset` of the string `value`, written at `span`, is: exact
/// when the string is written unescaped, else where the string starts.
fn place(text: &str, span: Range<usize>, value: &str, offset: usize) -> usize {
    let raw = text.get(span.clone()).unwrap_or_default();
    for quote in ["'''", "\"\"\"", "'", "\""] {
        if let Some(rest) = raw.strip_prefix(quote) {
            let skip = if quote.len() == 3 { usize::from(rest.starts_with('\n')) } else { 0 };
            if rest[skip..].starts_with(value) {
                return span.start + quote.len() + skip + offset;
            }
            break;
        }
    }
    span.start
}

fn read_secret(
    secret: &SecretFile,
    key: &str,
    plain_allowed: bool,
    origin: &Origin<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, String> {
    match secret {
        SecretFile::Plain(value) if plain_allowed => Ok(Secret(value.clone())),
        SecretFile::Plain(_) => Err(format!(
            "`{key}` is a secret: name an environment variable (`{key} = {{ env = \"NAME\" }}`) or a file (`{key} = {{ file = \"path\" }}`), never the value"
        )),
        SecretFile::From(SecretFrom { env: Some(var), file: None }) => env(var)
            .map(|v| Secret(v.trim().to_owned()))
            .filter(|s| !s.0.is_empty())
            .ok_or_else(|| format!("`{key}`: the environment variable {var} is not set")),
        SecretFile::From(SecretFrom { env: None, file: Some(path) }) => {
            let path = origin.base.join(path);
            std::fs::read_to_string(&path)
                .map(|v| Secret(v.trim().to_owned()))
                .map_err(|e| format!("`{key}`: cannot read {}: {e}", path.display()))
        }
        SecretFile::From(_) => Err(format!("`{key}` names either `env` or `file`")),
    }
}

/// Syslog facilities by name (RFC 5424 table 1).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

impl ConnectorFile {
    fn validate(&self, origin: &Origin<'_>, env: &dyn Fn(&str) -> Option<String>) -> Result<Connector, String> {
        let keys: [(&str, bool); 24] = [
            ("url", self.url.is_some()),
            ("method", self.method.is_some()),
            ("headers", self.headers.is_some()),
            ("secret_headers", self.secret_headers.is_some()),
            ("signing_key", self.signing_key.is_some()),
            ("body", self.body.is_some()),
            ("message", self.message.is_some()),
            ("subject", self.subject.is_some()),
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("security", self.security.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("cc", self.cc.is_some()),
            ("bcc", self.bcc.is_some()),
            ("routing_key", self.routing_key.is_some()),
            ("address", self.address.is_some()),
            ("transport", self.transport.is_some()),
            ("facility", self.facility.is_some()),
            ("app_name", self.app_name.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("path", self.path.is_some()),
        ];
        let allowed: &[&str] = match self.kind.as_str() {
            "webhook" => &["url", "method", "headers", "secret_headers", "signing_key", "body"],
            "slack" | "teams" => &["url", "message"],
            "email" => &[
                "host", "port", "security", "username", "password", "from", "to", "cc", "bcc", "ca_file", "subject",
                "message",
            ],
            "pagerduty" => &["routing_key", "url", "message"],
            "syslog" => &["address", "transport", "facility", "app_name", "ca_file", "message"],
            "file" => &["path"],
            other => {
                return Err(format!(
                    "type `{other}` is not one of webhook, slack, teams, email, pagerduty, syslog, file"
                ));
            }
        };
        if let Some((key, _)) = keys.iter().find(|(key, present)| *present && !allowed.contains(key)) {
            return Err(format!("`{key}` does not apply to {} connectors", self.kind));
        }
        let required = |key: &str, present: bool| {
            if present { Ok(()) } else { Err(format!("{} connectors need `{key}`", self.kind)) }
        };
        let secret = |key: &str, value: &Option<SecretFile>, plain: bool| -> Result<Secret, String> {
            required(key, value.is_some())?;
            read_secret(value.as_ref().expect("checked"), key, plain, origin, env)
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| origin.base.join(p));
        let mut params = BTreeMap::new();
        for (key, value) in [("body", &self.body), ("message", &self.message), ("subject", &self.subject)] {
            if let Some(value) = value {
                params.insert(key.to_owned(), template(origin, key, value)?);
            }
        }
        let kind = match self.kind.as_str() {
            "webhook" => {
                let method = self.method.clone().unwrap_or_else(|| "POST".into()).to_ascii_uppercase();
                if !["POST", "PUT"].contains(&method.as_str()) {
                    return Err(format!("`method` {method} is not POST or PUT"));
                }
                let mut headers: Vec<(String, Secret)> =
                    self.headers.iter().flatten().map(|(k, v)| (k.clone(), Secret(v.clone()))).collect();
                for (name, value) in self.secret_headers.iter().flatten() {
                    headers.push((
                        name.clone(),
                        read_secret(value, &format!("secret_headers.{name}"), false, origin, env)?,
                    ));
                }
                Kind::Webhook {
                    url: secret("url", &self.url, true)?,
                    method,
                    headers,
                    signing_key: match &self.signing_key {
                        Some(key) => Some(read_secret(key, "signing_key", false, origin, env)?),
                        None => None,
                    },
                }
            }
            "slack" => Kind::Slack { url: secret("url", &self.url, false)? },
            "teams" => Kind::Teams { url: secret("url", &self.url, false)? },
            "email" => {
                required("host", self.host.is_some())?;
                required("from", self.from.is_some())?;
                let to = self.to.clone().unwrap_or_default();
                if to.is_empty() {
                    return Err("email connectors need `to`, one recipient or more".into());
                }
                let security = match self.security.as_deref().unwrap_or("starttls") {
                    "starttls" => Security::StartTls,
                    "tls" => Security::Tls,
                    "none" => Security::None,
                    other => return Err(format!("`security` `{other}` is not one of starttls, tls, none")),
                };
                let credentials = match (&self.username, &self.password) {
                    (Some(user), Some(password)) => {
                        Some((user.clone(), read_secret(password, "password", false, origin, env)?))
                    }
                    (None, None) => None,
                    _ => return Err("`username` and `password` go together".into()),
                };
                Kind::Email(Box::new(Email {
                    host: self.host.clone().expect("checked"),
                    port: self.port.unwrap_or(match security {
                        Security::StartTls => 587,
                        Security::Tls => 465,
                        Security::None => 25,
                    }),
                    security,
                    credentials,
                    from: self.from.clone().expect("checked"),
                    to,
                    cc: self.cc.clone().unwrap_or_default(),
                    bcc: self.bcc.clone().unwrap_or_default(),
                    ca_file: path(&self.ca_file),
                }))
            }
            "pagerduty" => Kind::PagerDuty {
                routing_key: secret("routing_key", &self.routing_key, false)?,
                url: match &self.url {
                    Some(url) => read_secret(url, "url", true, origin, env)?.0,
                    None => "https://events.pagerduty.com/v2/enqueue".into(),
                },
            },
            "syslog" => {
                required("address", self.address.is_some())?;
                let transport = match self.transport.as_deref().unwrap_or("udp") {
                    "udp" => SyslogTransport::Udp,
                    "tcp" => SyslogTransport::Tcp,
                    "tls" => SyslogTransport::Tls,
                    other => return Err(format!("`transport` `{other}` is not one of udp, tcp, tls")),
                };
                let facility = match self.facility.as_deref() {
                    None => 13,
                    Some(name) => FACILITIES
                        .iter()
                        .position(|f| *f == name)
                        .map(|n| n as u8)
                        .ok_or_else(|| format!("`facility` `{name}` is not one of {}", FACILITIES.join(", ")))?,
                };
                Kind::Syslog {
                    address: self.address.clone().expect("checked"),
                    transport,
                    facility,
                    app_name: self.app_name.clone().unwrap_or_else(|| "vigil".into()),
                    ca_file: path(&self.ca_file),
                }
            }
            _ => {
                required("path", self.path.is_some())?;
                Kind::File { path: path(&self.path).expect("checked") }
            }
        };
        Ok(Connector { name: self.name.clone(), kind, params })
    }
}

impl RouteFile {
    fn validate(&self, origin: &Origin<'_>) -> Result<Route, String> {
        let severity_at_least = match &self.severity_at_least {
            None => None,
            Some(text) => Some(
                Severity::parse(text)
                    .ok_or_else(|| format!("`severity_at_least` `{text}` is not one of low, medium, high, critical"))?,
            ),
        };
        let throttle = match &self.throttle {
            None => None,
            Some(text) => Some(Interval::parse(text).map_err(|e| format!("`throttle`: {e}"))?),
        };
        let frequency = rules::actions::Frequency {
            summary: self.summary.unwrap_or(false),
            notify_when: if throttle.is_some() {
                rules::actions::NotifyWhen::OnThrottleInterval
            } else {
                rules::actions::NotifyWhen::OnActiveAlert
            },
            throttle,
        };
        let mut params = BTreeMap::new();
        for (key, value) in self.params.iter().flatten() {
            params.insert(key.clone(), template(origin, &format!("params.{key}"), value)?);
        }
        Ok(Route {
            connector: self.connector.clone(),
            rules: self.rules.clone().unwrap_or_default(),
            tags: self.tags.clone().unwrap_or_default(),
            severity_at_least,
            frequency,
            params,
        })
    }
}
