//! `--output timeline` and `--output timeline-jsonl`: one row per detection, in event time
//! order, with the columns an analyst reads (or those `--fields` names).

use std::io::{self, Write};

use ecs::date::Timestamp;
use engine::Hit;
use serde_json::{Map, Value};

use super::detection::{Detection, Rules, field_text, sort_by_time};
use super::{Output, Summary, csv_row};

/// The columns when the detections are of any dataset.
const GENERIC_COLUMNS: &[&str] = &[
    "time",
    "severity",
    "rule",
    "tactic",
    "technique",
    "user.name",
    "source.ip",
    "event.action",
    "event.outcome",
    "host.name",
    "event_id",
    "file",
    "line",
];

/// The columns when every detection is of an Office 365 event: the workload is
/// `event.provider`, the operation `event.action`, the tenant `organization.name`.
const O365_COLUMNS: &[&str] = &[
    "time",
    "severity",
    "rule",
    "tactic",
    "technique",
    "user.id",
    "source.ip",
    "event.provider",
    "event.action",
    "event.outcome",
    "user_agent.original",
    "organization.name",
    "event_id",
    "file",
    "line",
];

/// The columns that are not event fields (docs/cli.md says what each holds).
const DETECTION_COLUMNS: &[&str] = &[
    "time",
    "severity",
    "risk_score",
    "rule",
    "rule_id",
    "tactic",
    "technique",
    "reason",
    "alert_id",
    "event_id",
    "file",
    "line",
];

/// CSV or JSONL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A header, then one row per detection.
    Csv,
    /// One JSON object per detection, keys in column order.
    Jsonl,
}

/// One detection and the event fields the columns may need.
struct Row {
    detection: Detection,
    fields: Vec<String>,
    o365: bool,
}

/// Keeps the detections and writes them in time order at the end.
pub struct Timeline<W> {
    out: W,
    form: Form,
    /// The columns `--fields` gave.
    chosen: Option<Vec<String>>,
    /// The event fields each row keeps, in this order.
    fields: Vec<String>,
    rules: Rules,
    rows: Vec<Row>,
}

impl<W: Write> Timeline<W> {
    /// Writes to `out` in `form`, with `columns` (or the defaults for the detections' dataset).
    pub fn new(out: W, form: Form, columns: Option<Vec<String>>) -> Timeline<W> {
        let wanted: Vec<&str> = match &columns {
            Some(columns) => columns.iter().map(String::as_str).collect(),
            None => GENERIC_COLUMNS.iter().chain(O365_COLUMNS).copied().collect(),
        };
        let mut fields: Vec<String> = Vec::new();
        for name in wanted {
            if !is_detection_column(name) && !fields.iter().any(|f| f == name) {
                fields.push(name.to_owned());
            }
        }
        Timeline { out, form, chosen: columns, fields, rules: Rules::default(), rows: Vec::new() }
    }
}

fn is_detection_column(name: &str) -> bool {
    DETECTION_COLUMNS.contains(&name)
}

/// The value of a column that is not an event field.
fn detection_value(detection: &Detection, column: &str) -> String {
    match column {
        "time" => detection.time.map(|t| t.to_string()).unwrap_or_default(),
        "severity" => detection.severity.as_str().to_owned(),
        "risk_score" => detection.risk_score.to_string(),
        "rule" => detection.rule_name.clone(),
        "rule_id" => detection.rule.id.clone(),
        "tactic" => detection.rule.tactics.join("; "),
        "technique" => detection.rule.techniques.join("; "),
        "reason" => detection.reason.clone(),
        "alert_id" => detection.alert_id.clone(),
        "event_id" => detection.event_id.clone(),
        "file" => detection.source.to_string(),
        "line" => detection.line.to_string(),
        _ => String::new(),
    }
}

impl<W: Write> Output for Timeline<W> {
    fn alert(&mut self, hit: &Hit<'_>, _: Timestamp) -> io::Result<()> {
        let detection = self.rules.detection(hit);
        let fields = self.fields.iter().map(|f| field_text(hit.event, f)).collect();
        let o365 = field_text(hit.event, "event.dataset").starts_with("o365");
        self.rows.push(Row { detection, fields, o365 });
        Ok(())
    }

    fn finish(&mut self, _: &Summary<'_>) -> io::Result<()> {
        let columns: Vec<String> = match &self.chosen {
            Some(columns) => columns.clone(),
            None if !self.rows.is_empty() && self.rows.iter().all(|r| r.o365) => {
                O365_COLUMNS.iter().map(|c| (*c).to_owned()).collect()
            }
            None => GENERIC_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        };
        sort_by_time(&mut self.rows, |r| r.detection.time);
        if self.form == Form::Csv {
            csv_row(&mut self.out, columns.iter().map(String::as_str))?;
        }
        for row in &self.rows {
            let values: Vec<String> = columns
                .iter()
                .map(|c| match self.fields.iter().position(|f| f == c) {
                    Some(at) => row.fields[at].clone(),
                    None => detection_value(&row.detection, c),
                })
                .collect();
            match self.form {
                Form::Csv => csv_row(&mut self.out, values.iter().map(String::as_str))?,
                Form::Jsonl => {
                    let object: Map<String, Value> = columns
                        .iter()
                        .zip(values)
                        .map(|(c, v)| {
                            let value = match c.as_str() {
                                "line" => v.parse::<u64>().map_or(Value::String(v), Value::from),
                                _ => Value::String(v),
                            };
                            (c.clone(), value)
                        })
                        .collect();
                    serde_json::to_writer(&mut self.out, &object)?;
                    self.out.write_all(b"\n")?;
                }
            }
        }
        self.out.flush()
    }
}
