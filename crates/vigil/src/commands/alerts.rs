//! `vigil alerts list|show|ack|close|reopen`: triage the alerts of a running server.

use std::io::{IsTerminal, Write};

use anstyle::Style;
use anyhow::bail;
use serde_json::{Value, json};

use crate::cli::{AlertListArgs, AlertSelection, AlertShowArgs, AlertStatusArgs, AlertsCommand, ListOutput};
use crate::client::Client;
use crate::exit::Exit;
use crate::numbers::count;
use crate::output::{csv_row, ip_of, severity_style, user_of};

/// The most alerts one status request changes (the server's page size).
const PER_REQUEST: usize = 1000;

/// Runs `vigil alerts ...`.
pub fn run(command: AlertsCommand) -> anyhow::Result<Exit> {
    match command {
        AlertsCommand::List(args) => list(args),
        AlertsCommand::Show(args) => show(&args),
        AlertsCommand::Ack(args) => set_status(args, "acknowledged"),
        AlertsCommand::Close(args) => set_status(args, "closed"),
        AlertsCommand::Reopen(args) => set_status(args, "open"),
    }
}

/// Text at a JSON pointer, or `-`.
fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(", ")
        }
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// A field of an alert document (dotted keys such as `kibana.alert.reason`, or nested), or `-`.
fn field(document: &Value, path: &str) -> String {
    or_dash(engine::field_texts(document, path).join(", "))
}

/// Who an alert is about, or `-`.
fn user(document: &Value) -> String {
    or_dash(user_of(document))
}

/// Where an alert's event came from, or `-`.
fn source_ip(document: &Value) -> String {
    or_dash(ip_of(document))
}

fn or_dash(text: String) -> String {
    if text.is_empty() { "-".to_owned() } else { text }
}

fn list(args: AlertListArgs) -> anyhow::Result<Exit> {
    let mut query = args.filter.params();
    query.push(("limit", Some(args.limit.to_string())));
    query.push(("building_blocks", (!args.building_blocks).then(|| "false".to_owned())));
    let page = Client::new(&args.server)?.get("/alerts", &query)?;
    let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
    let stdout = std::io::stdout();
    let form = match args.output {
        ListOutput::Auto if stdout.is_terminal() => ListOutput::Table,
        ListOutput::Auto => ListOutput::Jsonl,
        form => form,
    };
    let mut out = anstream::AutoStream::auto(stdout.lock());
    let exit = if alerts.is_empty() { Exit::No } else { Exit::Success };
    match form {
        ListOutput::Jsonl | ListOutput::Auto => {
            for alert in &alerts {
                serde_json::to_writer(&mut out, alert)?;
                writeln!(out)?;
            }
        }
        ListOutput::Csv => {
            let header =
                ["id", "created", "severity", "status", "rule_id", "rule", "event_time", "user", "source_ip", "reason"];
            csv_row(&mut out, header)?;
            for alert in &alerts {
                let doc = &alert["document"];
                let row = [
                    text(alert, "/id"),
                    text(alert, "/created"),
                    text(alert, "/severity"),
                    text(alert, "/status"),
                    text(alert, "/rule_id"),
                    field(doc, "kibana.alert.rule.name"),
                    field(doc, "kibana.alert.original_time"),
                    user(doc),
                    source_ip(doc),
                    field(doc, "kibana.alert.reason"),
                ];
                csv_row(&mut out, row.iter().map(String::as_str))?;
            }
        }
        ListOutput::Table if alerts.is_empty() => writeln!(out, "No alerts.")?,
        ListOutput::Table => {
            let bold = Style::new().bold();
            writeln!(
                out,
                "{bold}{:<24}  {:<9} {:<12}  {:<12}  {:<24}  rule{bold:#}",
                "created", "severity", "status", "id", "user"
            )?;
            for alert in &alerts {
                let severity = text(alert, "/severity");
                let style = rules::Severity::parse(&severity).map_or(Style::new(), severity_style);
                let id = text(alert, "/id");
                writeln!(
                    out,
                    "{:<24}  {style}{severity:<9}{style:#} {:<12}  {:<12}  {:<24}  {}",
                    text(alert, "/created"),
                    text(alert, "/status"),
                    id.get(..12).unwrap_or(&id),
                    user(&alert["document"]),
                    field(&alert["document"], "kibana.alert.rule.name"),
                )?;
            }
            let total = page["total"].as_u64().unwrap_or(0);
            writeln!(
                out,
                "\n{} of {}; ids are shortened, and `vigil alerts show ID` takes them so.",
                alerts.len(),
                count(total, "alert")
            )?;
        }
    }
    Ok(exit)
}

fn show(args: &AlertShowArgs) -> anyhow::Result<Exit> {
    let client = Client::new(&args.server)?;
    let alert = client.get(&format!("/alerts/{}", args.id), &[])?;
    let mut out = anstream::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &alert)?;
        writeln!(out)?;
        return Ok(Exit::Success);
    }
    let doc = &alert["document"];
    // The guide is the rule's; a rule no longer loaded leaves the alert without one.
    let rule = client.get(&format!("/rules/{}", text(&alert, "/rule_id")), &[]).ok();
    write_alert(&mut out, &alert, doc, rule.as_ref())?;
    Ok(Exit::Success)
}

/// An alert for a terminal: who, what, where, when, why, the technique, the guide, the history.
fn write_alert(out: &mut dyn Write, alert: &Value, doc: &Value, rule: Option<&Value>) -> std::io::Result<()> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let severity = text(alert, "/severity");
    let style = rules::Severity::parse(&severity).map_or(Style::new(), severity_style);
    writeln!(out, "{bold}{}{bold:#}", field(doc, "kibana.alert.rule.name"))?;
    writeln!(
        out,
        "{style}{severity}{style:#}, risk {} · {}",
        field(doc, "kibana.alert.risk_score"),
        text(alert, "/status")
    )?;
    let line = |out: &mut dyn Write, label: &str, value: String| writeln!(out, "{dim}{label:<10}{dim:#}{value}");
    line(out, "id", text(alert, "/id"))?;
    line(
        out,
        "when",
        format!("{} (alert made {})", field(doc, "kibana.alert.original_time"), text(alert, "/created")),
    )?;
    line(out, "who", user(doc))?;
    let outcome = field(doc, "event.outcome");
    let provider = field(doc, "event.provider");
    let mut what = field(doc, "event.action");
    if outcome != "-" {
        what.push_str(&format!(" ({outcome})"));
    }
    if provider != "-" {
        what.push_str(&format!(" on {provider}"));
    }
    line(out, "what", what)?;
    let mut place = format!("from {}", source_ip(doc));
    for (label, path) in [("tenant", "organization.name"), ("host", "host.name")] {
        let value = field(doc, path);
        if value != "-" && !place.contains(&value) {
            place.push_str(&format!(" · {label} {value}"));
        }
    }
    line(out, "where", place)?;
    line(out, "reason", field(doc, "kibana.alert.reason"))?;
    for threat in doc.get("kibana.alert.rule.threat").and_then(Value::as_array).into_iter().flatten() {
        let techniques: Vec<String> = threat["technique"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| format!("{} {}", text(t, "/id"), text(t, "/name")))
            .collect();
        line(
            out,
            "technique",
            format!("{} {}: {}", text(threat, "/tactic/id"), text(threat, "/tactic/name"), techniques.join(", ")),
        )?;
    }
    line(
        out,
        "event",
        format!("{} in {}", field(doc, "kibana.alert.ancestors.id"), field(doc, "kibana.alert.ancestors.index")),
    )?;
    line(out, "rule", text(alert, "/rule_id"))?;
    if let Some(guide) = rule.and_then(|r| r.pointer("/definition/note")).and_then(Value::as_str) {
        writeln!(out, "\n{bold}Investigation guide{bold:#}")?;
        crate::commands::rules::write_markdown(out, guide)?;
    }
    writeln!(out, "\n{bold}History{bold:#}")?;
    let history = alert["history"].as_array().cloned().unwrap_or_default();
    if history.is_empty() {
        writeln!(out, "{dim}no change since it was made{dim:#}")?;
    }
    for change in &history {
        let note = change["note"].as_str().map(|n| format!(": {n}")).unwrap_or_default();
        writeln!(out, "{}  {:<12} by {}{note}", text(change, "/at"), text(change, "/status"), text(change, "/by"))?;
    }
    writeln!(
        out,
        "\n{dim}Pivot: vigil events search --around {}{dim:#}",
        text(alert, "/id").get(..12).unwrap_or_default()
    )?;
    Ok(())
}

/// The full ids of a selection: ids as given (prefixes looked up), or every alert its filter
/// selects.
fn selected(client: &Client, selection: &AlertSelection) -> anyhow::Result<Vec<String>> {
    let filtered = selection.filter.is_given();
    if filtered && !selection.ids.is_empty() {
        bail!("give alert ids or a filter (--rule-id, --status, --severity, --since, --query), not both");
    }
    if !filtered {
        if selection.ids.is_empty() {
            bail!("which alerts? give ids, or a filter: --rule-id, --status, --severity, --since, --query");
        }
        return selection
            .ids
            .iter()
            .map(|id| match id.len() {
                64 => Ok(id.clone()),
                _ => Ok(text(&client.get(&format!("/alerts/{id}"), &[])?, "/id")),
            })
            .collect();
    }
    let mut ids = Vec::new();
    loop {
        let mut query = selection.filter.params();
        query.push(("sort", Some("oldest".to_owned())));
        query.push(("offset", Some(ids.len().to_string())));
        query.push(("limit", Some(PER_REQUEST.to_string())));
        let page = client.get("/alerts", &query)?;
        let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
        ids.extend(alerts.iter().map(|a| text(a, "/id")));
        if page["next_offset"].is_null() || alerts.is_empty() {
            return Ok(ids);
        }
    }
}

fn set_status(args: AlertStatusArgs, status: &str) -> anyhow::Result<Exit> {
    let client = Client::new(&args.server)?;
    let ids = selected(&client, &args.selection)?;
    if ids.is_empty() {
        crate::report::note(&"no alert matches the filter");
        return Ok(Exit::No);
    }
    let mut out = std::io::stdout().lock();
    let (mut changed, mut missing) = (0u64, Vec::new());
    for chunk in ids.chunks(PER_REQUEST) {
        let answer = client.post("/alerts/status", &json!({"ids": chunk, "status": status, "note": args.note}))?;
        let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
        for id in list("updated") {
            changed += 1;
            writeln!(out, "{status}: {}", id.as_str().unwrap_or("?"))?;
        }
        missing.extend(list("not_found"));
    }
    for id in &missing {
        crate::report::note(&format!("no alert {}", id.as_str().unwrap_or("?")));
    }
    if ids.len() > 1 {
        crate::report::note(&format!("{} {status}", count(changed, "alert")));
    }
    Ok(if missing.is_empty() { Exit::Success } else { Exit::No })
}
