//! The service's configuration: one TOML file, each option overridable from the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rules::Interval;
use serde::Deserialize;

/// Everything `vigil serve` can be told. Defaults are safe: listen on loopback only, keep data
/// in `./vigil-data`, keep events 30 days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where to listen (`VIGIL_LISTEN`). Default `127.0.0.1:9270`, reachable from this host only.
    pub listen: SocketAddr,
    /// The data directory, holding `vigil.db` (`VIGIL_DATA_DIR`). Default `vigil-data`.
    pub data_dir: PathBuf,
    /// Whether the built-in rule pack runs (`VIGIL_BUILTIN_RULES`). Default true.
    pub builtin_rules: bool,
    /// Folders (or files) of detection-rules TOML and Kibana NDJSON rules (`VIGIL_RULES`,
    /// separated by `:`).
    pub rules: Vec<PathBuf>,
    /// Folders whose NDJSON files are followed as they grow and ingested (`VIGIL_WATCH`).
    pub watch: Vec<PathBuf>,
    /// Events ingested longer ago than this are removed (`VIGIL_RETENTION`, e.g. `30d`); `None`
    /// (`off`) keeps them. Alerts are always kept.
    pub retention: Option<Interval>,
    /// The largest share of the stored events, in percent, one retention pass may remove; a
    /// pass that would remove more is refused and logged (`VIGIL_RETENTION_MAX_PERCENT`).
    pub retention_max_percent: u8,
    /// The largest request body accepted, in bytes (`VIGIL_MAX_BODY`, e.g. `100MB`).
    pub max_body: usize,
    /// The longest line of an NDJSON or bulk body (`VIGIL_MAX_LINE`, e.g. `1MB`).
    pub max_line: usize,
    /// The most events (or bulk items) in one request (`VIGIL_MAX_ITEMS`).
    pub max_items: usize,
    /// The most ingest requests read at once; more are answered 429, as Elasticsearch's
    /// rejected executions are, and shippers retry them (`VIGIL_MAX_INGEST_REQUESTS`). With
    /// `max_body` and `max_items`, it bounds the memory ingest takes.
    pub max_ingest_requests: usize,
    /// The most ingest requests waiting, bodies unread, for one of those places; more are
    /// answered 429 (`VIGIL_MAX_INGEST_QUEUE`).
    pub max_ingest_queue: usize,
    /// How often rule folders and watched folders are looked at for changes
    /// (`VIGIL_POLL`, e.g. `2s`).
    pub poll: Interval,
    /// Connections open at once, at most; more are closed as they come (`VIGIL_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long a new connection may wait for its first bytes (or TLS handshake), a request's
    /// headers may take, and a keep-alive connection may stay idle (`VIGIL_HEADER_TIMEOUT`).
    pub header_timeout: Interval,
    /// How long one request may take, its body included; past it the answer is 503 and the
    /// client may retry (`VIGIL_REQUEST_TIMEOUT`).
    pub request_timeout: Interval,
    /// How long one search of the events or of alerts by KQL may read before it answers
    /// (`VIGIL_SEARCH_BUDGET`, e.g. `10s`).
    pub search_budget: Interval,
    /// How long a console sign-in lasts before the analyst signs in again
    /// (`VIGIL_SESSION_TIMEOUT`, e.g. `8h`).
    pub session_timeout: Interval,
    /// The PEM certificate chain and private key to serve HTTPS with (`VIGIL_TLS_CERT`,
    /// `VIGIL_TLS_KEY`); both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Office 365 tenants whose audit logs are pulled from the Management Activity API
    /// (the `[o365]` table; the file only).
    pub o365: O365,
    /// Connectors, routes and delivery settings (`[[connectors]]`, `[[routes]]`,
    /// `[notifications]`; the file only), validated and their secrets read.
    pub notifications: std::sync::Arc<notify::Setup>,
    /// Cluster mode (`[cluster]`; the file only): the NATS JetStream cluster this node shares
    /// its event log with. `None`: the embedded single-node mode.
    pub cluster: Option<cluster::Settings>,
    /// Query rules evaluated as events are stored, by rule id or name, `*` for every rule that
    /// can (`realtime`, `VIGIL_REALTIME` separated by `,`): their alerts come about a second
    /// after ingest instead of at their next scheduled start. Empty (the default): none.
    pub realtime: Vec<String>,
}

/// The `[o365]` table: how often and how far back to pull, and from which tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct O365 {
    /// How long between two pulls of a tenant. Default `1m`.
    pub interval: Interval,
    /// How far back the first pull of a content type reaches (at most `7d`, what the API
    /// keeps). Default `7d`.
    pub since: Interval,
    /// Each pull lists again this far before where the last complete listing ended, for
    /// content the API lists late; blobs already taken are not fetched again. Default `1h`.
    pub relist: Interval,
    /// The tenants.
    pub tenants: Vec<O365Tenant>,
    /// How a throttled or failed call is retried within a pull (6 attempts, from 2 s doubling,
    /// with jitter). Not read from the file; embedders and tests set it.
    pub retry: o365::api::Retry,
}

impl Default for O365 {
    fn default() -> O365 {
        O365 {
            interval: Interval::from_seconds(60),
            since: Interval::from_seconds(7 * 86_400),
            relist: Interval::from_seconds(3600),
            tenants: Vec::new(),
            retry: o365::api::Retry::default(),
        }
    }
}

/// One `[[o365.tenants]]` entry. The credential is named (a file, a variable, a certificate),
/// never written in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct O365Tenant {
    /// The directory (tenant) id.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// Where the client secret or certificate comes from.
    pub credential: o365::api::CredentialSource,
    /// `commercial`, `gcc`, `gcc-high` or `dod`. Default `commercial`.
    pub cloud: o365::api::Cloud,
    /// `PublisherIdentifier`; the tenant id by default.
    pub publisher: Option<String>,
    /// The content types pulled; all five by default.
    pub content_types: Vec<String>,
    /// Another token endpoint root than the cloud's (a proxy).
    pub login_url: Option<String>,
    /// Another API root than the cloud's (a proxy).
    pub api_url: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9270)),
            data_dir: PathBuf::from("vigil-data"),
            builtin_rules: true,
            rules: Vec::new(),
            watch: Vec::new(),
            retention: Some(Interval::from_seconds(30 * 86_400)),
            retention_max_percent: 25,
            max_body: 100 << 20,
            max_line: 1 << 20,
            max_items: 100_000,
            max_ingest_requests: 4,
            max_ingest_queue: 64,
            poll: Interval::from_seconds(2),
            search_budget: Interval::from_seconds(10),
            max_connections: 1024,
            header_timeout: Interval::from_seconds(10),
            request_timeout: Interval::from_seconds(120),
            session_timeout: Interval::from_seconds(8 * 3600),
            tls: None,
            o365: O365::default(),
            notifications: Default::default(),
            cluster: None,
            realtime: Vec::new(),
        }
    }
}

/// A percentage, 0 to 100.
fn percent_of(percent: u8) -> Result<u8, String> {
    if percent <= 100 { Ok(percent) } else { Err(format!("retention_max_percent {percent} is over 100")) }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file or environment variable.
    pub source_name: String,
    /// What is wrong with it.
    pub message: String,
}

/// The file's shape: every key optional, unknown keys refused (a typo must not pass silently).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    builtin_rules: Option<bool>,
    rules: Option<Vec<PathBuf>>,
    watch: Option<Vec<PathBuf>>,
    retention: Option<String>,
    retention_max_percent: Option<u8>,
    max_body: Option<String>,
    max_line: Option<String>,
    max_items: Option<usize>,
    max_ingest_requests: Option<usize>,
    max_ingest_queue: Option<usize>,
    poll: Option<String>,
    search_budget: Option<String>,
    max_connections: Option<usize>,
    header_timeout: Option<String>,
    request_timeout: Option<String>,
    session_timeout: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    o365: Option<O365File>,
    notifications: Option<notify::config::SettingsFile>,
    connectors: Option<Vec<notify::config::ConnectorFile>>,
    routes: Option<Vec<notify::config::RouteFile>>,
    cluster: Option<cluster::SettingsFile>,
    realtime: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct O365File {
    interval: Option<String>,
    since: Option<String>,
    relist: Option<String>,
    #[serde(default)]
    tenants: Vec<TenantFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    tenant_id: String,
    client_id: String,
    /// Refused with a message of its own: a secret in the file would be copied, backed up and
    /// shown in errors. Its value is never read.
    client_secret: Option<serde::de::IgnoredAny>,
    client_secret_file: Option<PathBuf>,
    client_secret_env: Option<String>,
    certificate: Option<PathBuf>,
    certificate_key: Option<PathBuf>,
    cloud: Option<String>,
    publisher: Option<String>,
    content_types: Option<Vec<String>>,
    login_url: Option<String>,
    api_url: Option<String>,
}

/// The `VIGIL_*` variables read (after `VIGIL_`), each by `Config::apply_env`; the TLS pair is
/// read on its own.
const ENV_KEYS: &[&str] = &[
    "LISTEN",
    "DATA_DIR",
    "BUILTIN_RULES",
    "RULES",
    "WATCH",
    "RETENTION",
    "RETENTION_MAX_PERCENT",
    "MAX_BODY",
    "MAX_LINE",
    "MAX_ITEMS",
    "MAX_INGEST_REQUESTS",
    "MAX_INGEST_QUEUE",
    "POLL",
    "SEARCH_BUDGET",
    "MAX_CONNECTIONS",
    "HEADER_TIMEOUT",
    "REQUEST_TIMEOUT",
    "SESSION_TIMEOUT",
    "REALTIME",
];

impl Config {
    /// The defaults, then the file at `path` (if given), then `VIGIL_*` variables from `env`.
    /// Relative paths in the file are taken from the file's folder.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or holds an unknown key or a bad value, or a variable holds
    /// a bad value.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut notifications = (notify::config::NotifyFile::default(), String::new(), PathBuf::from("."));
        if let Some(path) = path {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError { source_name: name.clone(), message: e.to_string() })?;
            let mut file: File = toml::from_str(&text)
                .map_err(|e| ConfigError { source_name: name.clone(), message: e.to_string().trim_end().to_owned() })?;
            let base = path.parent().unwrap_or(Path::new("."));
            notifications.0 = notify::config::NotifyFile {
                settings: file.notifications.take().unwrap_or_default(),
                connectors: file.connectors.take().unwrap_or_default(),
                routes: file.routes.take().unwrap_or_default(),
            };
            notifications.1 = text.clone();
            notifications.2 = base.to_owned();
            config.apply_file(file, base).map_err(|message| ConfigError { source_name: name, message })?;
        }

        for key in ENV_KEYS {
            let var = format!("VIGIL_{key}");
            if let Some(value) = env(&var) {
                config.apply_env(key, &value).map_err(|message| ConfigError { source_name: var, message })?;
            }
        }
        // The pair is read together: either may complete the other from the file.
        let (cert, key) = (env("VIGIL_TLS_CERT").map(PathBuf::from), env("VIGIL_TLS_KEY").map(PathBuf::from));
        if cert.is_some() || key.is_some() {
            let (file_cert, file_key) = config.tls.clone().unzip();
            config
                .set_tls(cert.or(file_cert), key.or(file_key))
                .map_err(|message| ConfigError { source_name: "VIGIL_TLS_CERT, VIGIL_TLS_KEY".into(), message })?;
        }
        // Last: links default to where the service listens, as the variables leave it.
        let (file, text, base) = notifications;
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let origin =
            notify::config::Origin { text: &text, base: &base, default_url: format!("{scheme}://{}", config.listen) };
        let setup = file.validate(&origin, &env).map_err(|message| ConfigError {
            source_name: path.map_or_else(|| "the configuration".into(), |p| p.display().to_string()),
            message,
        })?;
        config.notifications = std::sync::Arc::new(setup);
        if config.cluster.is_some() && !config.realtime.is_empty() {
            return Err(ConfigError {
                source_name: path.map_or_else(|| "VIGIL_REALTIME".into(), |p| p.display().to_string()),
                message: "realtime is not available in cluster mode yet: its executions would race between nodes; \
                          leave it out, or run this node alone"
                    .into(),
            });
        }
        Ok(config)
    }

    fn apply_file(&mut self, file: File, base: &Path) -> Result<(), String> {
        let relative = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        if let Some(listen) = file.listen {
            self.listen = parse_listen(&listen)?;
        }
        if let Some(dir) = file.data_dir {
            self.data_dir = relative(dir);
        }
        if let Some(builtin) = file.builtin_rules {
            self.builtin_rules = builtin;
        }
        if let Some(rules) = file.rules {
            self.rules = rules.into_iter().map(relative).collect();
        }
        if let Some(watch) = file.watch {
            self.watch = watch.into_iter().map(relative).collect();
        }
        if let Some(retention) = file.retention {
            self.retention = parse_retention(&retention)?;
        }
        if let Some(percent) = file.retention_max_percent {
            self.retention_max_percent = percent_of(percent)?;
        }
        if let Some(size) = file.max_body {
            self.max_body = parse_size(&size)?;
        }
        if let Some(size) = file.max_line {
            self.max_line = parse_size(&size)?;
        }
        if let Some(items) = file.max_items {
            self.max_items = items;
        }
        if let Some(requests) = file.max_ingest_requests {
            self.max_ingest_requests = requests.max(1);
        }
        if let Some(queue) = file.max_ingest_queue {
            self.max_ingest_queue = queue;
        }
        if let Some(poll) = file.poll {
            self.poll = Interval::parse(&poll).map_err(|e| e.to_string())?;
        }
        if let Some(budget) = file.search_budget {
            self.search_budget = Interval::parse(&budget).map_err(|e| e.to_string())?;
        }
        if let Some(connections) = file.max_connections {
            self.max_connections = connections.max(1);
        }
        if let Some(timeout) = file.header_timeout {
            self.header_timeout = Interval::parse(&timeout).map_err(|e| e.to_string())?;
        }
        if let Some(timeout) = file.request_timeout {
            self.request_timeout = Interval::parse(&timeout).map_err(|e| e.to_string())?;
        }
        if let Some(timeout) = file.session_timeout {
            self.session_timeout = Interval::parse(&timeout).map_err(|e| e.to_string())?;
        }
        if let Some(o365) = file.o365 {
            self.o365 = o365_section(o365, &relative)?;
        }
        if let Some(realtime) = file.realtime {
            self.realtime = realtime;
        }
        if let Some(section) = file.cluster {
            let duration =
                |text: &str| Interval::parse(text).ok().map(|i| std::time::Duration::from_secs(i.as_seconds()));
            self.cluster = Some(section.settings(base, duration).map_err(|e| e.to_string())?);
        }
        self.set_tls(file.tls_cert.map(relative), file.tls_key.map(relative))
    }

    fn set_tls(&mut self, cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<(), String> {
        self.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => self.tls.take(),
            (Some(_), None) => return Err("tls_cert is given without tls_key".into()),
            (None, Some(_)) => return Err("tls_key is given without tls_cert".into()),
        };
        Ok(())
    }

    fn apply_env(&mut self, key: &str, value: &str) -> Result<(), String> {
        let paths = |v: &str| v.split(':').filter(|p| !p.is_empty()).map(PathBuf::from).collect();
        match key {
            "LISTEN" => self.listen = parse_listen(value)?,
            "DATA_DIR" => self.data_dir = PathBuf::from(value),
            "BUILTIN_RULES" => {
                self.builtin_rules = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(format!("`{value}` is not true or false")),
                }
            }
            "RULES" => self.rules = paths(value),
            "WATCH" => self.watch = paths(value),
            "RETENTION" => self.retention = parse_retention(value)?,
            "RETENTION_MAX_PERCENT" => {
                self.retention_max_percent =
                    percent_of(value.parse().map_err(|_| format!("`{value}` is not a percentage"))?)?;
            }
            "MAX_BODY" => self.max_body = parse_size(value)?,
            "MAX_LINE" => self.max_line = parse_size(value)?,
            "MAX_ITEMS" => self.max_items = value.parse().map_err(|_| format!("`{value}` is not a number"))?,
            "MAX_INGEST_QUEUE" => {
                self.max_ingest_queue = value.parse::<usize>().map_err(|_| format!("`{value}` is not a number"))?;
            }
            "MAX_INGEST_REQUESTS" => {
                self.max_ingest_requests =
                    value.parse::<usize>().map_err(|_| format!("`{value}` is not a number"))?.max(1);
            }
            "POLL" => self.poll = Interval::parse(value).map_err(|e| e.to_string())?,
            "SEARCH_BUDGET" => self.search_budget = Interval::parse(value).map_err(|e| e.to_string())?,
            "MAX_CONNECTIONS" => {
                self.max_connections = value.parse::<usize>().map_err(|_| format!("`{value}` is not a number"))?.max(1);
            }
            "HEADER_TIMEOUT" => self.header_timeout = Interval::parse(value).map_err(|e| e.to_string())?,
            "REQUEST_TIMEOUT" => self.request_timeout = Interval::parse(value).map_err(|e| e.to_string())?,
            "SESSION_TIMEOUT" => self.session_timeout = Interval::parse(value).map_err(|e| e.to_string())?,
            "REALTIME" => {
                self.realtime = value.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect()
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads the `[o365]` table; each mistake names the tenant and key.
fn o365_section(file: O365File, relative: &dyn Fn(PathBuf) -> PathBuf) -> Result<O365, String> {
    let interval = |key: &str, text: Option<String>, default: Interval| match text {
        Some(text) => Interval::parse(&text).map_err(|e| format!("o365.{key}: {e}")),
        None => Ok(default),
    };
    let defaults = O365::default();
    let mut o365 = O365 {
        interval: interval("interval", file.interval, defaults.interval)?,
        since: interval("since", file.since, defaults.since)?,
        relist: interval("relist", file.relist, defaults.relist)?,
        tenants: Vec::new(),
        retry: defaults.retry,
    };
    if o365.since > defaults.since {
        return Err(format!("o365.since: {} is further back than the 7 days the API keeps content", o365.since));
    }
    for tenant in file.tenants {
        let name = format!("o365.tenants `{}`", tenant.tenant_id);
        if tenant.tenant_id.trim().is_empty() || tenant.client_id.trim().is_empty() {
            return Err(format!("{name}: tenant_id and client_id must not be empty"));
        }
        if tenant.client_secret.is_some() {
            return Err(format!(
                "{name}: a client secret is not written in the configuration; name the file holding it \
                 (client_secret_file) or the environment variable (client_secret_env)"
            ));
        }
        let certificate = match (tenant.certificate, tenant.certificate_key) {
            (Some(cert), Some(key)) => Some((relative(cert), relative(key))),
            (None, None) => None,
            _ => return Err(format!("{name}: certificate and certificate_key go together")),
        };
        let cloud = match tenant.cloud {
            None => o365::api::Cloud::Commercial,
            Some(text) => o365::api::Cloud::parse(&text)
                .ok_or_else(|| format!("{name}: cloud `{text}` is not commercial, gcc, gcc-high or dod"))?,
        };
        let content_types =
            tenant.content_types.unwrap_or_else(|| o365::api::CONTENT_TYPES.iter().map(|t| (*t).to_owned()).collect());
        if let Some(unknown) = content_types.iter().find(|t| !o365::api::CONTENT_TYPES.contains(&t.as_str())) {
            return Err(format!(
                "{name}: content type `{unknown}` is not one of {}",
                o365::api::CONTENT_TYPES.join(", ")
            ));
        }
        o365.tenants.push(O365Tenant {
            tenant_id: tenant.tenant_id,
            client_id: tenant.client_id,
            credential: o365::api::CredentialSource {
                client_secret_file: tenant.client_secret_file.map(relative),
                client_secret_env: tenant.client_secret_env,
                certificate,
            },
            cloud,
            publisher: tenant.publisher,
            content_types,
            login_url: tenant.login_url,
            api_url: tenant.api_url,
        });
    }
    Ok(o365)
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("`{text}` is not an address and port, like 127.0.0.1:9270"))
}

fn parse_retention(text: &str) -> Result<Option<Interval>, String> {
    match text {
        "off" | "none" | "forever" => Ok(None),
        _ => Interval::parse(text).map(Some).map_err(|e| format!("{e}, or `off`")),
    }
}

/// Reads `100MB`, `512KB`, `1GB` or a number of bytes.
fn parse_size(text: &str) -> Result<usize, String> {
    let err = || format!("`{text}` is not a size, like 100MB, 512KB or 1GB");
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number.parse().map_err(|_| err())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "KB" | "K" => 10,
        "MB" | "M" => 20,
        "GB" | "G" => 30,
        _ => return Err(err()),
    };
    n.checked_mul(1 << shift).filter(|&n| n > 0).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_then_environment_override_the_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vigil.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9200\"\nrules = [\"rules\"]\nretention = \"7d\"\nmax_body = \"10MB\"\n",
        )
        .expect("write");
        let env = |key: &str| (key == "VIGIL_RETENTION").then(|| "off".to_owned());
        let config = Config::load(Some(&path), env).expect("valid");
        assert_eq!(config.listen.to_string(), "0.0.0.0:9200");
        assert_eq!(config.rules, [dir.path().join("rules")]);
        assert_eq!((config.retention, config.max_body), (None, 10 << 20));
        assert_eq!(config.data_dir, PathBuf::from("vigil-data"), "untouched keys keep their defaults");
        assert_eq!(Config::load(None, |_| None).expect("defaults"), Config::default());
    }

    #[test]
    fn the_documented_example_holds_every_option_at_its_default() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vigil.toml");
        let mut config = Config::load(Some(&example), |_| None).expect("docs/vigil.toml is valid");
        let text = std::fs::read_to_string(&example).expect("readable");
        for key in [
            "listen",
            "data_dir",
            "builtin_rules",
            "rules",
            "watch",
            "retention",
            "retention_max_percent",
            "max_body",
            "max_line",
            "max_items",
            "max_ingest_requests",
            "max_ingest_queue",
            "poll",
            "search_budget",
            "max_connections",
            "header_timeout",
            "request_timeout",
            "session_timeout",
            "realtime",
            "interval",
            "since",
            "relist",
            "# tenant_id",
            "# client_id",
            "# client_secret_file",
            "# client_secret_env",
            "# certificate",
            "# certificate_key",
            "# cloud",
            "# publisher",
            "# content_types",
            "# login_url",
            "# api_url",
        ] {
            assert!(text.lines().any(|l| l.starts_with(&format!("{key} = "))), "docs/vigil.toml documents {key}");
        }
        config.data_dir = PathBuf::from("vigil-data"); // made relative to the file's folder
        assert_eq!(config, Config::default());
        // The commented tenant example holds too, once uncommented.
        let tenant = text.split_once("# [[o365.tenants]]").map(|(_, t)| t).unwrap_or_default();
        let uncommented: String =
            tenant.lines().map(|l| format!("{}\n", l.trim_start_matches("# "))).collect::<String>();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tenant.toml");
        std::fs::write(&path, format!("[[o365.tenants]]{uncommented}")).expect("write");
        let config = Config::load(Some(&path), |_| None).expect("the tenant example is valid");
        assert_eq!(config.o365.tenants.len(), 1);
        assert_eq!(config.o365.tenants[0].content_types.len(), 5);
    }

    /// Every variable docs/vigil.toml names is read (some were documented and ignored).
    #[test]
    fn every_documented_variable_is_read() {
        let text = include_str!("../../../docs/vigil.toml");
        let named = text.split("(VIGIL_").skip(1).filter_map(|rest| rest.split([')', ',', ' ', ':']).next());
        // The TLS pair is read on its own; the Office 365 secret's variable is a credential's.
        for key in named.filter(|k| !k.starts_with("TLS_") && !k.starts_with("O365_")) {
            assert!(ENV_KEYS.contains(&key), "VIGIL_{key} is documented but not read");
        }
        let env = |key: &str| match key {
            "VIGIL_SEARCH_BUDGET" => Some("3s".to_owned()),
            "VIGIL_MAX_INGEST_QUEUE" => Some("7".to_owned()),
            _ => None,
        };
        let config = Config::load(None, env).expect("valid");
        assert_eq!((config.search_budget, config.max_ingest_queue), (Interval::from_seconds(3), 7));
    }

    #[test]
    fn tls_takes_a_certificate_and_a_key_together() {
        let both = |key: &str| match key {
            "VIGIL_TLS_CERT" => Some("cert.pem".to_owned()),
            "VIGIL_TLS_KEY" => Some("key.pem".to_owned()),
            _ => None,
        };
        let config = Config::load(None, both).expect("valid");
        assert_eq!(config.tls, Some((PathBuf::from("cert.pem"), PathBuf::from("key.pem"))));
        let half = |key: &str| (key == "VIGIL_TLS_CERT").then(|| "cert.pem".to_owned());
        let err = Config::load(None, half).expect_err("a certificate without a key");
        assert_eq!(err.to_string(), "VIGIL_TLS_CERT, VIGIL_TLS_KEY: tls_cert is given without tls_key");
    }

    #[test]
    fn o365_tenants_name_their_credential_and_mistakes_name_the_tenant() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vigil.toml");
        let write = |text: &str| std::fs::write(&path, text).expect("write");
        write(
            "[o365]\ninterval = \"30s\"\n\n[[o365.tenants]]\ntenant_id = \"t1\"\nclient_id = \"app\"\n\
             client_secret_file = \"secret\"\ncloud = \"gcc-high\"\ncontent_types = [\"Audit.Exchange\"]\n",
        );
        let config = Config::load(Some(&path), |_| None).expect("valid");
        assert_eq!(config.o365.interval, Interval::from_seconds(30));
        assert_eq!(config.o365.since, O365::default().since, "defaults stay");
        let tenant = &config.o365.tenants[0];
        assert_eq!(tenant.credential.client_secret_file, Some(dir.path().join("secret")));
        assert_eq!(
            (tenant.cloud, tenant.content_types.as_slice()),
            (o365::api::Cloud::GccHigh, &["Audit.Exchange".to_owned()][..])
        );
        write("[[o365.tenants]]\ntenant_id = \"t1\"\nclient_id = \"app\"\n");
        let config = Config::load(Some(&path), |_| None).expect("valid");
        assert_eq!(config.o365.tenants[0].content_types.len(), 5, "every content type by default");
        write("[[o365.tenants]]\ntenant_id = \"t1\"\nclient_id = \"app\"\ncontent_types = [\"Audit.Exhange\"]\n");
        let err = Config::load(Some(&path), |_| None).expect_err("a typo");
        assert!(err.to_string().contains("o365.tenants `t1`: content type `Audit.Exhange` is not one of"), "{err}");
        write("[[o365.tenants]]\ntenant_id = \"t1\"\nclient_id = \"app\"\nclient_secret = \"hunter2\"\n");
        let err = Config::load(Some(&path), |_| None).expect_err("no secrets in the file");
        assert!(err.to_string().contains("a client secret is not written in the configuration"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "the secret is not repeated: {err}");
        write("[o365]\nsince = \"8d\"\n");
        let err = Config::load(Some(&path), |_| None).expect_err("too far back");
        assert!(err.to_string().contains("further back than the 7 days"), "{err}");
    }

    #[test]
    fn mistakes_name_their_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, "listne = \"x\"\n").expect("write");
        let err = Config::load(Some(&path), |_| None).expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `listne`"), "{err}");
        let env = |key: &str| (key == "VIGIL_MAX_BODY").then(|| "lots".to_owned());
        let err = Config::load(None, env).expect_err("bad size");
        assert_eq!(err.to_string(), "VIGIL_MAX_BODY: `lots` is not a size, like 100MB, 512KB or 1GB");
    }
}
