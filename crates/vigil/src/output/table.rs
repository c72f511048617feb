//! `--output table`: what fired, per rule, for people.

use std::collections::HashMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use ecs::date::Timestamp;
use engine::Hit;
use rules::Severity;

use super::detection::{ip_of, top, user_of};
use super::{Output, Summary, styled};
use crate::numbers::{count, thousands};

/// One rule's row.
struct Row {
    severity: Severity,
    name: String,
    alerts: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// Counts alerts per rule and prints a table at the end.
pub struct Table<W> {
    out: W,
    rows: HashMap<String, Row>,
    /// Alerts per user and per source IP.
    users: HashMap<String, usize>,
    ips: HashMap<String, usize>,
    building_blocks: bool,
    /// Building-block alerts left out.
    hidden: u64,
}

impl<W: Write> Table<W> {
    /// Writes to `out` (colour is up to the writer); the alerts of building-block rules are left
    /// out (and counted) unless `building_blocks`.
    pub fn new(out: W, building_blocks: bool) -> Table<W> {
        Table { out, rows: HashMap::new(), users: HashMap::new(), ips: HashMap::new(), building_blocks, hidden: 0 }
    }
}

/// The colour of each severity, defined once.
pub fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical => AnsiColor::Magenta.on_default().bold(),
        Severity::High => AnsiColor::Red.on_default().bold(),
        Severity::Medium => AnsiColor::Yellow.on_default(),
        Severity::Low => AnsiColor::Blue.on_default(),
    }
}

impl<W: Write> Output for Table<W> {
    fn alert(&mut self, hit: &Hit<'_>, _: Timestamp) -> io::Result<()> {
        if !self.building_blocks && engine::overrides::is_building_block(hit.rule) {
            self.hidden += 1;
            return Ok(());
        }
        let time = hit.time();
        let row = self.rows.entry(hit.rule.id.0.clone()).or_insert_with(|| Row {
            severity: hit.rule.severity,
            name: hit.rule.name.clone(),
            alerts: 0,
            first: None,
            last: None,
        });
        row.alerts += 1;
        *self.users.entry(user_of(hit.event)).or_default() += 1;
        *self.ips.entry(ip_of(hit.event)).or_default() += 1;
        if let Some(time) = time {
            row.first = Some(row.first.map_or(time, |f| f.min(time)));
            row.last = Some(row.last.map_or(time, |l| l.max(time)));
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary<'_>) -> io::Result<()> {
        let mut rows: Vec<(&String, &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| {
            b.1.severity.cmp(&a.1.severity).then(b.1.alerts.cmp(&a.1.alerts)).then(a.1.name.cmp(&b.1.name))
        });
        let out = &mut self.out;
        let bold = Style::new().bold();
        if rows.is_empty() {
            writeln!(out, "No alerts.")?;
        } else {
            styled(
                out,
                bold,
                &format!("{:<9} {:>7}  {:<24}  {:<24}  {}", "severity", "alerts", "first seen", "last seen", "rule"),
            )?;
            writeln!(out)?;
            for (_, row) in &rows {
                styled(out, severity_style(row.severity), &format!("{:<9}", row.severity.as_str()))?;
                let time = |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
                writeln!(
                    out,
                    " {:>7}  {:<24}  {:<24}  {}",
                    thousands(row.alerts),
                    time(row.first),
                    time(row.last),
                    row.name
                )?;
            }
            for (title, counts) in [("Top users", &self.users), ("Top source IPs", &self.ips)] {
                let top = top(counts.clone(), 5);
                if top.is_empty() {
                    continue;
                }
                writeln!(out)?;
                styled(out, bold, title)?;
                writeln!(out)?;
                for (value, n) in top {
                    writeln!(out, "  {:>7}  {value}", thousands(n as u64))?;
                }
            }
        }
        if self.hidden > 0 {
            writeln!(
                out,
                "({} of building-block rules not shown: --building-blocks shows them)",
                count(self.hidden, "alert")
            )?;
        }
        if let Some(replay) = &summary.replay {
            writeln!(out)?;
            styled(out, bold, "Replay of each rule's schedule")?;
            writeln!(out)?;
            for (rule, r) in replay.iter().filter(|(_, r)| r.alerts > 0 || r.missed > 0 || r.untimed > 0) {
                write!(
                    out,
                    "  {}: {} in {} (every {}, {} to {})",
                    rule.name,
                    count(r.alerts as u64, "alert"),
                    count(r.executions as u64, "execution"),
                    rule.interval,
                    rule.from.0,
                    rule.to.0
                )?;
                if !r.truncations.is_empty() {
                    let dropped: usize = r.truncations.iter().map(|t| t.dropped).sum();
                    write!(
                        out,
                        "; {} hit max_signals {} and left {} for later",
                        count(r.truncations.len() as u64, "execution"),
                        rule.max_signals,
                        count(dropped as u64, "event")
                    )?;
                }
                if r.missed > 0 {
                    write!(out, "; {} never alerted", count(r.missed as u64, "matching event"))?;
                }
                if r.untimed > 0 {
                    write!(out, "; {} without {}", count(r.untimed as u64, "matching event"), rule.time_field())?;
                }
                writeln!(out)?;
            }
        }
        let total: u64 = rows.iter().map(|(_, r)| r.alerts).sum();
        let s = summary.stats;
        writeln!(out)?;
        writeln!(
            out,
            "{} from {} (of {}); {} read, {} decoded, {} invalid.",
            count(total, "alert"),
            count(rows.len() as u64, "rule"),
            thousands(summary.rules as u64),
            count(s.records, "event"),
            thousands(s.decoded),
            thousands(s.invalid)
        )?;
        out.flush()
    }
}
