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
    /// The largest request body accepted, in bytes (`VIGIL_MAX_BODY`, e.g. `100MB`).
    pub max_body: usize,
    /// The longest line of an NDJSON or bulk body (`VIGIL_MAX_LINE`, e.g. `1MB`).
    pub max_line: usize,
    /// The most events (or bulk items) in one request (`VIGIL_MAX_ITEMS`).
    pub max_items: usize,
    /// How often rule folders and watched folders are looked at for changes
    /// (`VIGIL_POLL`, e.g. `2s`).
    pub poll: Interval,
    /// The PEM certificate chain and private key to serve HTTPS with (`VIGIL_TLS_CERT`,
    /// `VIGIL_TLS_KEY`); both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
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
            max_body: 100 << 20,
            max_line: 1 << 20,
            max_items: 100_000,
            poll: Interval::from_seconds(2),
            tls: None,
        }
    }
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
    max_body: Option<String>,
    max_line: Option<String>,
    max_items: Option<usize>,
    poll: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

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
        if let Some(path) = path {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError { source_name: name.clone(), message: e.to_string() })?;
            let file: File = toml::from_str(&text)
                .map_err(|e| ConfigError { source_name: name.clone(), message: e.to_string().trim_end().to_owned() })?;
            let base = path.parent().unwrap_or(Path::new("."));
            config.apply_file(file, base).map_err(|message| ConfigError { source_name: name, message })?;
        }
        const KEYS: [&str; 10] = [
            "LISTEN",
            "DATA_DIR",
            "BUILTIN_RULES",
            "RULES",
            "WATCH",
            "RETENTION",
            "MAX_BODY",
            "MAX_LINE",
            "MAX_ITEMS",
            "POLL",
        ];
        for key in KEYS {
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
        if let Some(size) = file.max_body {
            self.max_body = parse_size(&size)?;
        }
        if let Some(size) = file.max_line {
            self.max_line = parse_size(&size)?;
        }
        if let Some(items) = file.max_items {
            self.max_items = items;
        }
        if let Some(poll) = file.poll {
            self.poll = Interval::parse(&poll).map_err(|e| e.to_string())?;
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
            "MAX_BODY" => self.max_body = parse_size(value)?,
            "MAX_LINE" => self.max_line = parse_size(value)?,
            "MAX_ITEMS" => self.max_items = value.parse().map_err(|_| format!("`{value}` is not a number"))?,
            "POLL" => self.poll = Interval::parse(value).map_err(|e| e.to_string())?,
            _ => {}
        }
        Ok(())
    }
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
            "max_body",
            "max_line",
            "max_items",
            "poll",
        ] {
            assert!(text.lines().any(|l| l.starts_with(&format!("{key} = "))), "docs/vigil.toml documents {key}");
        }
        config.data_dir = PathBuf::from("vigil-data"); // made relative to the file's folder
        assert_eq!(config, Config::default());
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
