//! Scan outputs: each format receives alerts and a summary at the end.

mod csv;
mod detection;
mod html;
mod jsonl;
mod table;
mod timeline;

use std::io::{self, Write};

use ecs::date::Timestamp;
use engine::{Hit, RuleReplay, ScanStats};

pub use self::{
    csv::Csv,
    detection::{ip_of, user_of},
    html::Html,
    jsonl::Jsonl,
    table::{Table, severity_style},
    timeline::{Form, Timeline},
};

/// What a scan did, for the end of the output.
pub struct Summary<'a> {
    /// What the scanner saw.
    pub stats: &'a ScanStats,
    /// How many rules ran.
    pub rules: usize,
    /// With `--replay`: per rule (in rule-set order, by rule_id), what the schedule did.
    pub replay: Option<Vec<(&'a rules::Rule, &'a RuleReplay)>>,
}

/// A scan output format.
pub trait Output {
    /// One alert, created at `created`.
    fn alert(&mut self, hit: &Hit<'_>, created: Timestamp) -> io::Result<()>;
    /// The scan is over.
    fn finish(&mut self, summary: &Summary<'_>) -> io::Result<()>;
}

/// Feeds a live scan's hits to an output, each alert created at `now`.
pub struct Live<'o> {
    /// The output.
    pub output: &'o mut dyn Output,
    /// When the alerts are created.
    pub now: Timestamp,
}

impl engine::Sink for Live<'_> {
    type Error = io::Error;

    fn hit(&mut self, hit: &Hit<'_>) -> io::Result<bool> {
        self.output.alert(hit, self.now)?;
        Ok(true)
    }
}

/// Writes `text` with `style` when colour is on.
fn styled(out: &mut dyn Write, style: anstyle::Style, text: &str) -> io::Result<()> {
    write!(out, "{style}{text}{style:#}")
}

/// Writes one CSV row (RFC 4180: fields quoted when they hold a comma, quote or line break;
/// rows end with CRLF).
pub fn csv_row<'a>(out: &mut dyn Write, fields: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if field.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", field.replace('"', "\"\""))?;
        } else {
            out.write_all(field.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}
