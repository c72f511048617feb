//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  done: a query matched, or is valid
  1  done, and the answer is no: nothing matched, or the query is invalid
  2  could not do the job: bad arguments, unreadable input";

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
    /// Parse, translate and run Kibana Query Language (KQL) queries.
    #[command(subcommand, after_help = EXIT_CODES)]
    Kql(KqlCommand),
}

/// `vigil kql ...`
#[derive(Debug, Subcommand)]
pub enum KqlCommand {
    /// Print the query in canonical form, or show where it is wrong.
    Parse(QueryArg),
    /// Print the Elasticsearch Query DSL that Kibana would send for the query.
    Dsl(QueryArg),
    /// Print the NDJSON lines that match the query, like grep.
    ///
    /// Field types come from the built-in catalog (ECS and the Office 365 integration); a field
    /// it does not know is typed by its JSON value, as Elasticsearch's dynamic mapping does.
    /// Lines that cannot hold a match are skipped without being decoded; a line that is not a
    /// whole JSON document is reported as FILE:LINE and skipped.
    Match(MatchArgs),
    /// Show which clauses of the query held or failed for one JSON document, and why.
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
    /// NDJSON files to read (standard input when none, or for `-`).
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
    /// The document as JSON text (`-` reads it from standard input).
    pub document: String,
}
