//! `--output html`: one self-contained report file. It loads nothing from elsewhere and runs no
//! script at all (its Content-Security-Policy forbids both); every value from events and rules
//! is escaped by the template, and investigation guides are rendered by the console's
//! script-free Markdown renderer.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::sync::Arc;

use askama::Template;
use ecs::date::Timestamp;
use engine::Hit;
use rules::Severity;

use super::detection::{Detection, RuleFacts, Rules, field_text, ip_of, sort_by_time, top, user_of};
use super::{Output, Summary};
use crate::numbers::{count, thousands};

/// Events kept whole for the timeline's details; past this, alerts are listed and counted
/// without their event (the report says how many).
pub const KEPT_EVENTS: usize = 10_000;

/// One alert as the report keeps it.
struct Kept {
    detection: Detection,
    user: String,
    ip: String,
    action: String,
    outcome: String,
    /// The event, pretty-printed (`None` past [`KEPT_EVENTS`]).
    event: Option<String>,
}

/// Keeps the detections and writes the report at the end.
pub struct Html<W> {
    out: W,
    title: String,
    made: Timestamp,
    rules: Rules,
    kept: Vec<Kept>,
}

impl<W: Write> Html<W> {
    /// Writes to `out`; `title` names what was scanned, `made` is the scan's time.
    pub fn new(out: W, title: String, made: Timestamp) -> Html<W> {
        Html { out, title, made, rules: Rules::default(), kept: Vec::new() }
    }
}

impl<W: Write> Output for Html<W> {
    fn alert(&mut self, hit: &Hit<'_>, _: Timestamp) -> io::Result<()> {
        let event = (self.kept.len() < KEPT_EVENTS).then(|| serde_json::to_string_pretty(hit.event)).transpose()?;
        self.kept.push(Kept {
            detection: self.rules.detection(hit),
            user: user_of(hit.event),
            ip: ip_of(hit.event),
            action: field_text(hit.event, "event.action"),
            outcome: field_text(hit.event, "event.outcome"),
            event,
        });
        Ok(())
    }

    fn finish(&mut self, summary: &Summary<'_>) -> io::Result<()> {
        sort_by_time(&mut self.kept, |k| k.detection.time);
        let report = Report::of(&self.title, self.made, &self.kept, summary);
        let html = report.render().map_err(io::Error::other)?;
        self.out.write_all(html.as_bytes())?;
        self.out.flush()
    }
}

/// A count with its share of the largest, for a bar.
struct Bar {
    label: String,
    n: usize,
    /// 0 to 100.
    width: usize,
    /// A severity's CSS class, when the label is one.
    class: &'static str,
}

fn bars(counts: Vec<(String, usize)>) -> Vec<Bar> {
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    counts
        .into_iter()
        .map(|(label, n)| {
            let class = Severity::parse(&label).map_or("", severity_class);
            Bar { label, n, width: (n * 100).div_ceil(max), class }
        })
        .collect()
}

fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// One rule's line of the summary.
struct RuleLine {
    anchor: String,
    name: String,
    severity: Severity,
    class: &'static str,
    n: usize,
    first: String,
    last: String,
}

/// One tactic of the ATT&CK view.
struct Tactic {
    id: &'static str,
    name: &'static str,
    n: usize,
    techniques: Vec<(String, usize, String)>,
}

/// One row of the timeline.
struct Row<'a> {
    time: String,
    class: &'static str,
    severity: &'static str,
    rule: &'a str,
    anchor: String,
    kept: &'a Kept,
}

/// A rule's section: what it looks for and its guide.
struct RuleSection {
    anchor: String,
    facts: Arc<RuleFacts>,
    /// The guide as script-free HTML.
    guide: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Report<'a> {
    title: &'a str,
    generated: String,
    alerts: String,
    events: String,
    rules_run: String,
    rules_fired: String,
    severities: Vec<Bar>,
    rules: Vec<RuleLine>,
    tactics: Vec<Bar>,
    users: Vec<Bar>,
    ips: Vec<Bar>,
    days: Vec<Bar>,
    matrix: Vec<Tactic>,
    rows: Vec<Row<'a>>,
    without_event: usize,
    kept_limit: String,
    sections: Vec<RuleSection>,
}

fn anchor(rule_id: &str) -> String {
    let safe: String = rule_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("rule-{safe}")
}

impl<'a> Report<'a> {
    fn of(title: &'a str, made: Timestamp, kept: &'a [Kept], summary: &Summary<'_>) -> Report<'a> {
        let mut severities: BTreeMap<Severity, usize> = BTreeMap::new();
        let mut per_rule: HashMap<&str, RuleLine> = HashMap::new();
        let mut tactics: HashMap<String, usize> = HashMap::new();
        let (mut users, mut ips, mut days) = (HashMap::new(), HashMap::new(), BTreeMap::new());
        let mut techniques: HashMap<(String, String), usize> = HashMap::new();
        let mut facts: Vec<Arc<RuleFacts>> = Vec::new();
        for k in kept {
            let d = &k.detection;
            *severities.entry(d.severity).or_default() += 1;
            let time = d.time.map(|t| t.to_string()).unwrap_or_default();
            let line = per_rule.entry(&d.rule.id).or_insert_with(|| {
                facts.push(d.rule.clone());
                RuleLine {
                    anchor: anchor(&d.rule.id),
                    name: d.rule.name.clone(),
                    severity: d.severity,
                    class: severity_class(d.severity),
                    n: 0,
                    first: time.clone(),
                    last: time.clone(),
                }
            });
            line.n += 1;
            line.severity = line.severity.max(d.severity);
            line.class = severity_class(line.severity);
            if !time.is_empty() {
                line.last = time.clone();
            }
            for label in &d.rule.tactics {
                *tactics.entry(label.clone()).or_default() += 1;
            }
            for (tactic, list) in &d.rule.matrix {
                for technique in list {
                    *techniques.entry((tactic.clone(), technique.clone())).or_default() += 1;
                }
            }
            *users.entry(k.user.clone()).or_default() += 1;
            *ips.entry(k.ip.clone()).or_default() += 1;
            if let Some(day) = time.get(..10) {
                *days.entry(day.to_owned()).or_default() += 1;
            }
        }
        let mut rules: Vec<RuleLine> = per_rule.into_values().collect();
        rules.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.n.cmp(&a.n)).then_with(|| a.name.cmp(&b.name)));
        let matrix = rules::TACTICS
            .iter()
            .map(|&(id, name)| {
                let mut fired: Vec<(String, usize, String)> = techniques
                    .iter()
                    .filter(|((t, _), _)| t == id)
                    .map(|((_, technique), n)| {
                        let tid = technique.split(' ').next().unwrap_or_default().replace('.', "/");
                        (technique.clone(), *n, format!("https://attack.mitre.org/techniques/{tid}/"))
                    })
                    .collect();
                fired.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                Tactic { id, name, n: fired.iter().map(|t| t.1).sum(), techniques: fired }
            })
            .collect();
        let rows = kept
            .iter()
            .map(|k| Row {
                time: k.detection.time.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                class: severity_class(k.detection.severity),
                severity: k.detection.severity.as_str(),
                rule: &k.detection.rule_name,
                anchor: anchor(&k.detection.rule.id),
                kept: k,
            })
            .collect();
        facts.sort_by(|a, b| a.name.cmp(&b.name));
        let sections = facts
            .into_iter()
            .map(|facts| RuleSection {
                anchor: anchor(&facts.id),
                guide: facts.guide.as_deref().map(server::markdown_html).unwrap_or_default(),
                facts,
            })
            .collect();
        Report {
            title,
            generated: made.to_string(),
            alerts: count(kept.len() as u64, "alert"),
            events: count(summary.stats.records, "event"),
            rules_run: thousands(summary.rules as u64),
            rules_fired: count(rules.len() as u64, "rule"),
            severities: bars(severities.into_iter().rev().map(|(s, n)| (s.as_str().to_owned(), n)).collect()),
            rules,
            tactics: bars(top(tactics, 20)),
            users: bars(top(users, 10)),
            ips: bars(top(ips, 10)),
            days: bars(days.into_iter().collect()),
            matrix,
            without_event: kept.iter().filter(|k| k.event.is_none()).count(),
            kept_limit: thousands(KEPT_EVENTS as u64),
            rows,
            sections,
        }
    }
}
