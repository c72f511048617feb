//! `[cluster]` in `vigil.toml`: where the NATS servers are, how to log in, how many copies.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How a node reaches the cluster, and the shape of what it keeps there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The NATS servers (`nats://host:4222`, `tls://host:4222`); the client fails over among
    /// them and learns the others from the cluster.
    pub urls: Vec<String>,
    /// This node's name, as the NATS servers see the connection.
    pub name: String,
    /// A NATS credentials file (JWT and nkey seed).
    pub credentials: Option<PathBuf>,
    /// A user and the file holding the password.
    pub user: Option<(String, PathBuf)>,
    /// The CA certificate that signed the servers' certificates; implies TLS.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and key, when the servers verify clients.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// How many copies of each stream (1, 3 or 5; 3 survives one server lost).
    pub replicas: usize,
    /// Events older than this leave the stream (each node's store keeps its own `retention`).
    pub max_age: Duration,
    /// The stream's size limit in bytes (`None`: no limit); the oldest events leave first.
    pub max_bytes: Option<u64>,
    /// How long the stream remembers message ids to drop re-sent events (beyond it, each node's
    /// store drops them).
    pub duplicate_window: Duration,
    /// How long a node keeps sending events the cluster has not acknowledged before it answers
    /// its client with an error (503).
    pub publish_timeout: Duration,
    /// How long a node holds an execution it took before another node may take it (when the
    /// first died before committing it). Longer than the longest execution.
    pub lease: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            urls: vec!["nats://127.0.0.1:4222".into()],
            name: "vigil".into(),
            credentials: None,
            user: None,
            tls_ca: None,
            tls_client: None,
            replicas: 3,
            max_age: Duration::from_secs(30 * 86_400),
            max_bytes: None,
            duplicate_window: Duration::from_secs(10 * 60),
            publish_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(120),
        }
    }
}

/// `[cluster]` as written: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    urls: Option<Vec<String>>,
    name: Option<String>,
    credentials: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    replicas: Option<usize>,
    max_age: Option<String>,
    max_bytes: Option<u64>,
    duplicate_window: Option<String>,
    publish_timeout: Option<String>,
    lease: Option<String>,
}

/// What is wrong with `[cluster]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("[cluster] {0}")]
pub struct SettingsError(pub String);

impl SettingsFile {
    /// The settings, paths taken from `base` (the file's folder), durations read by
    /// `duration` (`30d`, `10m`...).
    ///
    /// # Errors
    ///
    /// A missing or empty `urls`, a user without password file (or the reverse), half a client
    /// certificate, replicas other than 1, 3 or 5, a bad duration.
    pub fn settings(
        self,
        base: &std::path::Path,
        duration: impl Fn(&str) -> Option<Duration>,
    ) -> Result<Settings, SettingsError> {
        let fail = |m: &str| Err(SettingsError(m.to_owned()));
        let relative = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let defaults = Settings::default();
        let urls = match self.urls {
            Some(urls) if !urls.is_empty() && urls.iter().all(|u| !u.trim().is_empty()) => urls,
            _ => return fail("needs `urls`, the NATS servers (e.g. [\"nats://10.0.0.1:4222\"])"),
        };
        let user = match (self.user, self.password_file) {
            (Some(user), Some(file)) => Some((user, relative(file))),
            (None, None) => None,
            _ => return fail("`user` and `password_file` go together"),
        };
        let tls_client = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some((relative(cert), relative(key))),
            (None, None) => None,
            _ => return fail("`tls_cert` and `tls_key` go together"),
        };
        let replicas = self.replicas.unwrap_or(defaults.replicas);
        if ![1, 3, 5].contains(&replicas) {
            return fail("`replicas` must be 1, 3 or 5 (an odd quorum; 3 survives one server lost)");
        }
        let read = |key: &str, text: Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => duration(&text).ok_or_else(|| SettingsError(format!("`{key}`: `{text}` is not a duration"))),
        };
        Ok(Settings {
            urls,
            name: self.name.unwrap_or(defaults.name),
            credentials: self.credentials.map(relative),
            user,
            tls_ca: self.tls_ca.map(relative),
            tls_client,
            replicas,
            max_age: read("max_age", self.max_age, defaults.max_age)?,
            max_bytes: self.max_bytes,
            duplicate_window: read("duplicate_window", self.duplicate_window, defaults.duplicate_window)?,
            publish_timeout: read("publish_timeout", self.publish_timeout, defaults.publish_timeout)?,
            lease: read("lease", self.lease, defaults.lease)?,
        })
    }
}
