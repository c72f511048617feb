//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, as every command's help ends.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  done: a scan ran (alerts or not), a query matched, rules are valid, rule tests passed,
     the server did what was asked
  1  done, and the answer is no: nothing matched, a query or rule is invalid, a rule test
     failed, `scan --fail-on-alert` found alerts, some records could not be normalized, an
     alert or rule was not found
  2  could not do the job: bad arguments, unreadable input, no rule to run, the server
     unreachable or refusing the key"
    };
}

/// A leaf command's help epilogue: its examples, then the exit codes.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:\n", $("  ", $line, "\n",)+ "\n", exit_codes!())
    };
}

const EXIT_CODES: &str = exit_codes!();

/// Run Elastic Security detection rules anywhere.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run detection rules over log files and report what fires.
    #[command(after_help = examples!("vigil scan logs/                       # every data file below logs/, built-in rules", "vigil scan audit.json.gz --rules rules/ --output timeline > timeline.csv", "vigil scan export.csv --output html > report.html       # a Purview audit export", "vigil scan logs/ --since now-7d --exclude-tag \"Domain: Endpoint\" --fail-on-alert", "curl -s es:9200/logs-*/_search?size=1000 | vigil scan"))]
    Scan(ScanArgs),
    /// List, show, validate and test detection rules.
    #[command(subcommand, after_help = EXIT_CODES)]
    Rules(RulesCommand),
    /// Parse, translate and run Kibana Query Language (KQL) queries.
    #[command(subcommand, after_help = EXIT_CODES)]
    Kql(KqlCommand),
    /// Office 365 audit records: turn them into the documents Elastic's integration indexes.
    #[command(subcommand, after_help = EXIT_CODES)]
    O365(O365Command),
    /// Run the service: ingest events over HTTP and from files, run every rule on its schedule,
    /// keep alerts for triage.
    #[command(after_help = examples!("vigil serve                                  # 127.0.0.1:9270, data in ./vigil-data", "vigil serve --config /etc/vigil/vigil.toml", "vigil serve --watch /var/log/o365 --rules my-rules/"))]
    Serve(ServeArgs),
    /// List, show and triage the alerts of a running server.
    #[command(subcommand, after_help = EXIT_CODES)]
    Alerts(AlertsCommand),
    /// Search the events a running server stores; pivot from an alert to its user's and IP's.
    #[command(subcommand, after_help = EXIT_CODES)]
    Events(EventsCommand),
    /// How a running server is: store, events, rules, alerts, Office 365 pulls.
    #[command(after_help = examples!("VIGIL_API_KEY=... vigil status", "vigil status --server https://vigil.example:9270 --ca-cert ca.pem"))]
    Status(ServerArgs),
    /// Make, list and revoke the API keys of a server's data directory (run on its host).
    #[command(subcommand, after_help = EXIT_CODES)]
    Keys(KeysCommand),
    /// Import, export, test and change the exception lists and value lists of a running server.
    #[command(subcommand, after_help = EXIT_CODES)]
    Exceptions(ExceptionsCommand),
    /// List the connectors of a server's configuration and send a test message through one.
    #[command(subcommand, after_help = EXIT_CODES)]
    Connectors(ConnectorsCommand),
}

/// `vigil connectors ...`: read from the configuration file (secrets from its variables and
/// files), sent from this machine; no server needs to run.
#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// List the connectors and the routes.
    #[command(after_help = examples!("vigil connectors list --config vigil.toml"))]
    List(ConfigArgs),
    /// Send a test message through a connector, as a DKIM alert would look; exit 0 when the
    /// receiver accepted it.
    #[command(after_help = examples!("vigil connectors test soc-slack --config vigil.toml"))]
    Test(ConnectorTestArgs),
}

/// Which configuration.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The server's configuration file.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `vigil connectors test`.
#[derive(Debug, Args)]
pub struct ConnectorTestArgs {
    /// The connector's name.
    pub name: String,
    /// The configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `vigil exceptions ...`
#[derive(Debug, Subcommand)]
pub enum ExceptionsCommand {
    /// List the exception lists and value lists.
    #[command(after_help = examples!("vigil exceptions list"))]
    List(ServerArgs),
    /// Show one list with its items (JSON, as Kibana shapes it).
    #[command(after_help = examples!("vigil exceptions show trusted-admins"))]
    Show(ExceptionListArgs),
    /// Import lists: Kibana's exception list export (NDJSON) or vigil's TOML form. A file with
    /// any problem imports nothing.
    #[command(after_help = examples!("vigil exceptions import exceptions.ndjson", "vigil exceptions import tuning.toml"))]
    Import(ExceptionFilesArgs),
    /// Export every list: Kibana's NDJSON (the default) or vigil's TOML.
    #[command(after_help = examples!("vigil exceptions export > exceptions.ndjson", "vigil exceptions export --format toml > tuning.toml"))]
    Export(ExceptionExportArgs),
    /// Add an item to a list (analysts may), from entries given here or a JSON item.
    #[command(after_help = examples!("vigil exceptions add trusted-admins --match user.name=it-admin --comment \"change ticket 4411\""))]
    Add(ExceptionAddArgs),
    /// Remove a list, or one of its items (admin).
    #[command(after_help = examples!("vigil exceptions remove trusted-admins item-1", "vigil exceptions remove trusted-admins"))]
    Remove(ExceptionRemoveArgs),
    /// Show which alerts of the last days lists would have removed, before they are imported.
    #[command(after_help = examples!("vigil exceptions test tuning.toml --days 14"))]
    Test(ExceptionTestArgs),
    /// Upload a value list: one value per line, from a file or `-` for standard input (admin).
    #[command(after_help = examples!("vigil exceptions values admin-ips --type ip admin-ips.txt"))]
    Values(ValueListArgs),
}

/// A list by id.
#[derive(Debug, Args)]
pub struct ExceptionListArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The list's `list_id`.
    pub list_id: String,
    /// Its namespace.
    #[arg(long, default_value = "single", value_parser = ["single", "agnostic"])]
    pub namespace_type: String,
}

/// Exception files.
#[derive(Debug, Args)]
pub struct ExceptionFilesArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Kibana exports (`.ndjson`) or TOML files (`.toml`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `vigil exceptions export`
#[derive(Debug, Args)]
pub struct ExceptionExportArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// `ndjson` (Kibana's export) or `toml` (vigil's form, with value lists).
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "toml"])]
    pub format: String,
}

/// `vigil exceptions add`
#[derive(Debug, Args)]
pub struct ExceptionAddArgs {
    /// The list and which server.
    #[command(flatten)]
    pub list: ExceptionListArgs,
    /// The item's id (default: made from the time).
    #[arg(long)]
    pub item_id: Option<String>,
    /// The item's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Why, kept as the item's comment.
    #[arg(long)]
    pub comment: Option<String>,
    /// `FIELD=VALUE`: the field is the value (repeatable; all entries must hold).
    #[arg(long = "match", value_name = "FIELD=VALUE")]
    pub matches: Vec<String>,
    /// `FIELD=PATTERN`: a value of the field matches the wildcard pattern (`*`, `?`).
    #[arg(long = "wildcard", value_name = "FIELD=PATTERN")]
    pub wildcards: Vec<String>,
    /// `FIELD`: the field has a value.
    #[arg(long = "exists", value_name = "FIELD")]
    pub exists: Vec<String>,
    /// Ignore letter case in `--match` and `--wildcard` entries (vigil's addition to Kibana).
    #[arg(long)]
    pub case_insensitive: bool,
    /// The item as JSON, Kibana's shape (`item_id`, `entries`, ...): a file or `-`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["matches", "wildcards", "exists"])]
    pub item: Option<PathBuf>,
}

/// `vigil exceptions remove`
#[derive(Debug, Args)]
pub struct ExceptionRemoveArgs {
    /// The list and which server.
    #[command(flatten)]
    pub list: ExceptionListArgs,
    /// Remove only this item.
    pub item_id: Option<String>,
}

/// `vigil exceptions test`
#[derive(Debug, Args)]
pub struct ExceptionTestArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The lists to test: a Kibana export or a TOML file.
    pub file: PathBuf,
    /// Alerts of the last this many days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
}

/// `vigil exceptions values`
#[derive(Debug, Args)]
pub struct ValueListArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The value list's id, which `list` entries name.
    pub id: String,
    /// Its type.
    #[arg(long = "type", default_value = "keyword", value_parser = ["keyword", "ip", "ip_range", "text"])]
    pub kind: String,
    /// One value per line; `-` reads standard input.
    pub file: PathBuf,
}

/// `vigil keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key; it is printed once, on standard output.
    #[command(after_help = examples!("vigil keys create --name filebeat --role ingest --data-dir /var/lib/vigil"))]
    Create(KeyCreateArgs),
    /// List keys (never their secrets).
    #[command(after_help = examples!("vigil keys list --config /etc/vigil/vigil.toml"))]
    List(DataArgs),
    /// Revoke a key: requests with it are refused from then on.
    #[command(after_help = examples!("vigil keys revoke k3f9a2c1d0e4 --data-dir /var/lib/vigil"))]
    Revoke(KeyRevokeArgs),
}

/// Which data directory.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The server's configuration file, for its data directory.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory (default: the configuration's, else vigil-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Send events only (log shippers).
    Ingest,
    /// Read everything and triage alerts.
    Analyst,
    /// Everything: rules, keys, settings.
    Admin,
}

/// `vigil keys create`
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// Which data directory.
    #[command(flatten)]
    pub data: DataArgs,
    /// What the key is for (`filebeat`, `alice`).
    #[arg(long)]
    pub name: String,
    /// What it may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
}

/// `vigil keys revoke`
#[derive(Debug, Args)]
pub struct KeyRevokeArgs {
    /// Which data directory.
    #[command(flatten)]
    pub data: DataArgs,
    /// The key's id (as `vigil keys list` shows it).
    pub id: String,
}

/// `vigil serve`: options override the configuration file, which overrides `VIGIL_*` variables
/// only where they are given.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML); every option is documented in docs/serve.md.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to listen (default 127.0.0.1:9270).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The data directory (default vigil-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Rule files or folders, besides the built-in pack (repeatable).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Leave the built-in rule pack out.
    #[arg(long)]
    pub no_builtin_rules: bool,
    /// Folders of NDJSON files to follow as they grow (repeatable).
    #[arg(long = "watch", value_name = "DIR")]
    pub watch: Vec<PathBuf>,
}

/// Which server to talk to.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server's address.
    #[arg(long, env = "VIGIL_SERVER", default_value = "http://127.0.0.1:9270", value_name = "URL")]
    pub server: String,
    /// The API key to send (analyst or admin).
    #[arg(long, env = "VIGIL_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The certificate (PEM) that signed an HTTPS server's certificate, when it is not one of
    /// the public authorities (a self-signed certificate, a company CA).
    #[arg(long, env = "VIGIL_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// `vigil alerts ...`
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts, newest first.
    #[command(after_help = examples!("vigil alerts list --status open --severity high", "vigil alerts list --since now-24h -q 'user.name:admin*' --output csv > alerts.csv"))]
    List(AlertListArgs),
    /// Show one alert: its document and its workflow history.
    #[command(after_help = examples!("vigil alerts show 3f9a2c                     # a unique prefix, as git takes", "vigil alerts show 3f9a2c --json"))]
    Show(AlertShowArgs),
    /// Acknowledge alerts: someone is on them.
    #[command(after_help = examples!("vigil alerts ack 3f9a2c --note \"looking into it\""))]
    Ack(AlertStatusArgs),
    /// Close alerts.
    #[command(after_help = examples!("vigil alerts close 3f9a2c 81be07 --note \"change ticket 4411\"", "vigil alerts close --rule-id <RULE_ID> --status open --note \"known admin work\""))]
    Close(AlertStatusArgs),
    /// Open alerts again.
    #[command(after_help = examples!("vigil alerts reopen 3f9a2c --note \"seen again\""))]
    Reopen(AlertStatusArgs),
}

/// `vigil alerts list`
#[derive(Debug, Args)]
pub struct AlertListArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Which alerts.
    #[command(flatten)]
    pub filter: AlertFilter,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// How to write them.
    #[arg(long, value_enum, default_value_t)]
    pub output: ListOutput,
    /// List the alerts of building-block rules too (hidden otherwise, as in Kibana).
    #[arg(long)]
    pub building_blocks: bool,
}

/// `vigil alerts show`
#[derive(Debug, Args)]
pub struct AlertShowArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The alert's id, or a unique prefix of it (at least 6 hex digits).
    pub id: String,
    /// Print the alert as the API gives it (document, status, history) instead.
    #[arg(long)]
    pub json: bool,
}

/// Which alerts a workflow change is for: ids, or a filter.
#[derive(Debug, Args)]
pub struct AlertSelection {
    /// Alert ids, or unique prefixes of at least 6 hex digits.
    pub ids: Vec<String>,
    /// Or every alert the filter selects.
    #[command(flatten)]
    pub filter: AlertFilter,
}

/// Which alerts, by what the server's alert list filters on; every condition given must hold.
#[derive(Debug, Args)]
pub struct AlertFilter {
    /// Raised by this rule_id.
    #[arg(long = "rule-id", visible_alias = "rule", value_name = "ID")]
    pub rule_id: Option<String>,
    /// open, acknowledged or closed.
    #[arg(long)]
    pub status: Option<String>,
    /// low, medium, high or critical.
    #[arg(long)]
    pub severity: Option<SeverityArg>,
    /// Created at or after (ISO 8601 or date math such as now-24h).
    #[arg(long)]
    pub since: Option<String>,
    /// A KQL query over the alert documents.
    #[arg(long, short)]
    pub query: Option<String>,
}

impl AlertFilter {
    /// Whether any condition is given.
    pub fn is_given(&self) -> bool {
        self.rule_id.is_some()
            || self.status.is_some()
            || self.severity.is_some()
            || self.since.is_some()
            || self.query.is_some()
    }

    /// The alert list's query parameters for it.
    pub fn params(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("status", self.status.clone()),
            ("severity", self.severity.map(|s| rules::Severity::from(s).as_str().to_owned())),
            ("rule_id", self.rule_id.clone()),
            ("since", self.since.clone()),
            ("q", self.query.clone()),
        ]
    }
}

/// `vigil alerts ack|close|reopen`
#[derive(Debug, Args)]
pub struct AlertStatusArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Which alerts: ids, or a filter (every alert it selects).
    #[command(flatten)]
    pub selection: AlertSelection,
    /// Why (kept in the alert's history, with the key's name).
    #[arg(long)]
    pub note: Option<String>,
}

/// `vigil events ...`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Find stored events by a KQL query and time, or the events around an alert.
    #[command(after_help = examples!("vigil events search 'event.action:\"Set-DkimSigningConfig\"' --since 7d", "vigil events search --around 3f9a2c --since 2h   # the alert's user and IP, 2h either side"))]
    Search(EventSearchArgs),
}

/// `vigil events search`
#[derive(Debug, Args)]
pub struct EventSearchArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// A KQL query over the events (nothing: every event).
    pub query: Option<String>,
    /// How far back from now (`2h`, `7d`) or a date; with --around, how far on either side of
    /// the alert's event.
    #[arg(long, default_value = "24h", value_name = "AGE|DATE")]
    pub since: String,
    /// Events at or before this date (default: now).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Pivot from an alert (id or unique prefix): the events of its user or its source IP,
    /// around its event's time.
    #[arg(long, value_name = "ALERT_ID")]
    pub around: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// A table on a terminal, JSONL (the documents) when piped.
    #[arg(long, value_enum, default_value_t)]
    pub output: ListOutput,
}

/// `vigil o365 ...`
#[derive(Debug, Subcommand)]
pub enum O365Command {
    /// Print raw audit records (NDJSON, JSON arrays, Purview CSV exports, gzip) as ECS NDJSON.
    #[command(after_help = examples!("vigil o365 normalize audit.json > ecs.ndjson", "vigil o365 normalize export.csv --tenant b86ab9d4-...=fabrikam"))]
    Normalize(NormalizeArgs),
    /// Pull audit records once from the Office 365 Management Activity API, as raw NDJSON.
    #[command(after_help = examples!("VIGIL_O365_CLIENT_SECRET=... vigil o365 pull --tenant-id T --client-id C --since 24h -o raw.ndjson"))]
    Pull(PullArgs),
}

/// `vigil o365 pull`: the client secret comes from a file or the environment, never a flag.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The directory (tenant) id.
    #[arg(long)]
    pub tenant_id: String,
    /// The application (client) id registered for the Management Activity API.
    #[arg(long)]
    pub client_id: String,
    /// A file holding the client secret (else $VIGIL_O365_CLIENT_SECRET).
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Sign in with this certificate (PEM) instead of a secret.
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// The certificate's RSA private key (PEM, PKCS#8).
    #[arg(long, value_name = "FILE")]
    pub certificate_key: Option<PathBuf>,
    /// commercial, gcc, gcc-high or dod.
    #[arg(long, default_value = "commercial")]
    pub cloud: String,
    /// PublisherIdentifier (default: the tenant id).
    #[arg(long)]
    pub publisher: Option<String>,
    /// Content types (repeatable; default all five).
    #[arg(long = "content-type", value_name = "TYPE")]
    pub content_types: Vec<String>,
    /// How far back: 24h, 3d... (at most 7 days, as the API keeps).
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Where to write the records (`-`: standard output).
    #[arg(long, short, default_value = "-")]
    pub out: PathBuf,
}

/// `vigil o365 normalize`
#[derive(Debug, Args)]
pub struct NormalizeArgs {
    /// Files or folders of raw records; `-` or nothing reads standard input.
    pub paths: Vec<PathBuf>,
    /// Name a tenant: `TENANT_ID=NAME` sets organization.name and host.name (repeatable).
    #[arg(long = "tenant", value_name = "ID=NAME")]
    pub tenants: Vec<String>,
    /// Keep each raw record in event.original.
    #[arg(long)]
    pub preserve_original: bool,
}

/// When to use colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How `scan` writes its alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table on a terminal, JSONL when piped.
    #[default]
    Auto,
    /// A summary per rule (severity, alerts, first and last seen) and the top users and IPs.
    Table,
    /// One alert document per line, shaped like Elastic Security's.
    Jsonl,
    /// One alert per row, as found.
    Csv,
    /// One detection per row in time order (CSV): time, severity, rule, tactic, technique,
    /// user, IP, action, outcome, tenant/host, event id, file, line; `--fields` chooses.
    #[value(alias = "timeline-csv")]
    Timeline,
    /// The timeline as JSON lines.
    TimelineJsonl,
    /// One self-contained HTML report: summary, ATT&CK view, timeline with events and guides.
    Html,
}

/// How `alerts list` writes alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    /// A table on a terminal, JSONL when piped.
    #[default]
    Auto,
    /// Created, severity, status, id and rule, one alert per line.
    Table,
    /// One alert per line as the API gives it (document, status, history).
    Jsonl,
    /// One alert per row: id, created, severity, status, rule_id, rule, event time, user,
    /// source IP, reason.
    Csv,
}

/// Severity names for flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// low
    Low,
    /// medium
    Medium,
    /// high
    High,
    /// critical
    Critical,
}

impl From<SeverityArg> for rules::Severity {
    fn from(s: SeverityArg) -> rules::Severity {
        match s {
            SeverityArg::Low => rules::Severity::Low,
            SeverityArg::Medium => rules::Severity::Medium,
            SeverityArg::High => rules::Severity::High,
            SeverityArg::Critical => rules::Severity::Critical,
        }
    }
}

/// Where rules come from, and which to keep.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Rule files or folders (detection-rules TOML, Kibana NDJSON exports); the built-in pack
    /// when none is given.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Keep rules at least this severe.
    #[arg(long, value_name = "SEVERITY")]
    pub min_severity: Option<SeverityArg>,
    /// Keep rules with this tag (repeatable; any of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Keep the rule with this rule_id (repeatable).
    #[arg(long = "rule-id", value_name = "ID")]
    pub rule_ids: Vec<String>,
    /// Leave out the rule with this rule_id, or whose name holds this text (repeatable).
    #[arg(long = "exclude-rule", value_name = "ID|TEXT")]
    pub exclude_rules: Vec<String>,
    /// Leave out rules with this tag (repeatable).
    #[arg(long = "exclude-tag", value_name = "TAG")]
    pub exclude_tags: Vec<String>,
}

/// `vigil scan`
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or folders to scan: NDJSON, JSON arrays, pretty-printed JSON, Elasticsearch
    /// `_search` responses, Purview CSV exports; gzip, UTF-16; ECS documents or raw Office 365
    /// records. Folders are read recursively (data files only: see --ext); `-` or nothing
    /// reads standard input.
    pub paths: Vec<PathBuf>,
    /// Which rules.
    #[command(flatten)]
    pub rules: RuleArgs,
    /// How to write alerts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// The timeline's columns, comma-separated: time, severity, risk_score, rule, rule_id,
    /// tactic, technique, reason, alert_id, event_id, file, line, or any event field
    /// (`user.name`).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub fields: Option<Vec<String>>,
    /// The file extensions read in folders (comma-separated; default ndjson,jsonl,json,gz,csv;
    /// `*` for every file). Files named on the command line are always read.
    #[arg(long, value_delimiter = ',', value_name = "EXT")]
    pub ext: Option<Vec<String>>,
    /// Only events at or after this time: an age (7d), ISO 8601, or date math (now-7d/d).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only events at or before this time.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// The index every event is taken to be in (default: from data_stream.* or event.dataset).
    #[arg(long, value_name = "NAME")]
    pub index: Option<String>,
    /// Simulate each rule's schedule (interval, from/to, max_signals) over the data's time span and
    /// report the alerts Elastic would have created.
    #[arg(long)]
    pub replay: bool,
    /// Count the alerts of building-block rules in the table too (they are always in JSONL and
    /// CSV, marked `kibana.alert.building_block_type`).
    #[arg(long)]
    pub building_blocks: bool,
    /// Exception lists for the rules that name them (`exceptions_list`): a Kibana export
    /// (NDJSON) or vigil's TOML form, a file or a folder; repeatable.
    #[arg(long, value_name = "PATH")]
    pub exceptions: Vec<PathBuf>,
    /// Threads to test events on (default: one per core); the output is the same for any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub threads: Option<usize>,
    /// Take the current time to be this date (for date math in queries and alert times).
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,
    /// Exit with 1 when any alert fires.
    #[arg(long)]
    pub fail_on_alert: bool,
    /// When to colour the table.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
    /// No progress bar and no summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `vigil rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List rules, one per line.
    #[command(after_help = examples!("vigil rules list --tag \"Data Source: Microsoft 365\"", "vigil rules list --rules detection-rules/rules --type query --tactic persistence"))]
    List(ListArgs),
    /// Show one rule with its investigation guide.
    #[command(after_help = examples!("vigil rules show dkim", "vigil rules show 514121ce-c7b6-474a-8237-68ff71672379"))]
    Show(ShowArgs),
    /// Check rule files and report every problem (exit 1 on errors).
    #[command(after_help = examples!("vigil rules validate my-rules/", "vigil rules validate detection-rules/rules"))]
    Validate(ValidateArgs),
    /// Run rules against their test events: `<rule>.tests/alert.ndjson` must alert,
    /// `<rule>.tests/no-alert.ndjson` must not.
    #[command(after_help = examples!("vigil rules test                  # the built-in pack's test events", "vigil rules test my-rules/"))]
    Test(ValidateArgs),
    /// Show, clause by clause, why each event of a file matched a rule's query or not.
    #[command(after_help = examples!("vigil rules explain dkim suspicious.ndjson", "vigil rules explain dkim raw-audit.json --rules my-rules/"))]
    Explain(RuleExplainArgs),
    /// Run rules of a running server now (over their window and every event since they last ran).
    #[command(after_help = examples!("vigil rules run dkim", "vigil rules run --all"))]
    Run(RulesRunArgs),
    /// Turn a rule of a running server on: it runs on its schedule.
    #[command(after_help = examples!("vigil rules enable dkim"))]
    Enable(RemoteRuleArgs),
    /// Turn a rule of a running server off.
    #[command(after_help = examples!("vigil rules disable 514121ce-c7b6-474a-8237-68ff71672379"))]
    Disable(RemoteRuleArgs),
    /// A rule's executions on a running server, newest first: status, window, events, alerts,
    /// held back, warnings.
    #[command(after_help = examples!("vigil rules executions dkim --limit 5"))]
    Executions(RuleExecutionsArgs),
}

/// `vigil rules explain`
#[derive(Debug, Args)]
pub struct RuleExplainArgs {
    /// The rule's rule_id, or a word of its name.
    pub rule: String,
    /// Events: any input `scan` reads (raw Office 365 records are normalized first); `-` reads
    /// standard input.
    pub events: PathBuf,
    /// Rule files or folders (the built-in pack when none is given).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

/// A rule of a running server.
#[derive(Debug, Args)]
pub struct RemoteRuleArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The rule's rule_id, or a word of its name that only it has.
    pub rule: String,
}

/// `vigil rules run`
#[derive(Debug, Args)]
pub struct RulesRunArgs {
    /// Which server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Rules by rule_id or a word of the name.
    #[arg(required_unless_present = "all")]
    pub rules: Vec<String>,
    /// Every enabled rule vigil can run.
    #[arg(long, conflicts_with = "rules")]
    pub all: bool,
}

/// `vigil rules executions`
#[derive(Debug, Args)]
pub struct RuleExecutionsArgs {
    /// The rule and which server.
    #[command(flatten)]
    pub rule: RemoteRuleArgs,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// `vigil rules list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which rules.
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Keep rules of this type (query, eql, esql, threshold, new_terms, ...).
    #[arg(long = "type", value_name = "TYPE")]
    pub kinds: Vec<String>,
    /// Keep rules mapped to this MITRE tactic (id or name).
    #[arg(long = "tactic", value_name = "TACTIC")]
    pub tactics: Vec<String>,
}

/// `vigil rules show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The rule's rule_id, or a word of its name.
    pub rule: String,
    /// Rule files or folders (the built-in pack when none is given).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

/// `vigil rules validate` and `vigil rules test`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Rule files or folders (the built-in pack when none is given).
    pub paths: Vec<PathBuf>,
}

/// `vigil kql ...`
#[derive(Debug, Subcommand)]
pub enum KqlCommand {
    /// Print the query in canonical form, or show where it is wrong.
    #[command(after_help = examples!("vigil kql parse 'event.action:\"Set-DkimSigningConfig\" and event.outcome:success'"))]
    Parse(QueryArg),
    /// Print the Elasticsearch Query DSL that Kibana would send for the query.
    #[command(after_help = examples!("vigil kql dsl 'user.name:admin* and not source.ip:10.0.0.0/8'"))]
    Dsl(QueryArg),
    /// Print the NDJSON lines that match the query, like grep.
    ///
    /// Field types come from the built-in catalog (ECS and the Office 365 integration); a field
    /// it does not know is typed by its JSON value, as Elasticsearch's dynamic mapping does.
    /// Lines that cannot hold a match are skipped without being decoded; a line that is not a
    /// whole JSON document is reported as FILE:LINE and skipped.
    #[command(after_help = examples!("vigil kql match 'event.action:\"Set-DkimSigningConfig\"' logs/", "vigil kql match -c 'event.outcome:failure' audit.json.gz"))]
    Match(MatchArgs),
    /// Show which clauses of the query held or failed for one JSON document, and why.
    #[command(after_help = examples!("vigil kql explain 'event.outcome:success' '{\"event\":{\"outcome\":\"failure\"}}'", "vigil kql explain 'event.action:x' events.ndjson"))]
    Explain(ExplainArgs),
}

/// A query as the only argument.
#[derive(Debug, Args)]
pub struct QueryArg {
    /// The KQL query, e.g. 'event.action:"Set-DkimSigningConfig" and event.outcome:success'.
    pub query: String,
}

/// `vigil kql match`
#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The KQL query.
    pub query: String,
    /// Files or folders, any input `scan` reads (standard input when none, or for `-`); raw
    /// Office 365 records are normalized first and printed normalized.
    pub files: Vec<PathBuf>,
    /// Print only the number of matching lines.
    #[arg(short = 'c', long)]
    pub count: bool,
}

/// `vigil kql explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The KQL query.
    pub query: String,
    /// The document as JSON text, or a file of events (any input `scan` reads; raw Office 365
    /// records normalized), or `-` for standard input.
    pub document: String,
}
