//! `--output csv`: one alert per row.

use std::io::{self, Write};

use ecs::date::Timestamp;
use engine::Hit;

use super::{Output, Summary, csv_row};

const HEADER: &[&str] = &[
    "alert_id",
    "original_time",
    "rule_id",
    "rule_name",
    "severity",
    "risk_score",
    "index",
    "event_id",
    "source",
    "line",
    "reason",
];

/// Writes alerts as CSV (RFC 4180 quoting).
pub struct Csv<W> {
    out: W,
    header: bool,
}

impl<W: Write> Csv<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Csv<W> {
        Csv { out, header: false }
    }
}

impl<W: Write> Output for Csv<W> {
    fn alert(&mut self, hit: &Hit<'_>, _: Timestamp) -> io::Result<()> {
        if !self.header {
            self.header = true;
            csv_row(&mut self.out, HEADER.iter().copied())?;
        }
        let original_time = hit.event.get("@timestamp").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
        let row = [
            hit.alert_id.to_string(),
            original_time,
            hit.rule.id.0.clone(),
            hit.rule.name.clone(),
            hit.rule.severity.to_string(),
            hit.rule.risk_score.to_string(),
            hit.index.unwrap_or_default().to_owned(),
            hit.event_id.to_owned(),
            hit.position.source.to_owned(),
            hit.position.line.to_string(),
            engine::reason(hit.rule, hit.event),
        ];
        csv_row(&mut self.out, row.iter().map(String::as_str))
    }

    fn finish(&mut self, _: &Summary<'_>) -> io::Result<()> {
        if !self.header {
            self.header = true;
            csv_row(&mut self.out, HEADER.iter().copied())?;
        }
        self.out.flush()
    }
}
