//! `vigil alerts list|show|ack|close|reopen`: triage the alerts of a running server.

use std::io::{IsTerminal, Write};

use anstyle::Style;
use serde_json::{Value, json};

use crate::cli::{AlertListArgs, AlertStatusArgs, AlertsCommand, Output};
use crate::client::Client;
use crate::exit::Exit;
use crate::output::severity_style;

/// Runs `vigil alerts ...`.
pub fn run(command: AlertsCommand) -> anyhow::Result<Exit> {
    match command {
        AlertsCommand::List(args) => list(args),
        AlertsCommand::Show(args) => {
            let alert = Client::new(&args.server)?.get(&format!("/alerts/{}", args.id), &[])?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &alert)?;
            writeln!(out)?;
            Ok(Exit::Success)
        }
        AlertsCommand::Ack(args) => set_status(args, "acknowledged"),
        AlertsCommand::Close(args) => set_status(args, "closed"),
        AlertsCommand::Reopen(args) => set_status(args, "open"),
    }
}

fn list(args: AlertListArgs) -> anyhow::Result<Exit> {
    let query = [
        ("status", args.status.clone()),
        ("severity", args.severity.map(|s| rules::Severity::from(s).as_str().to_owned())),
        ("rule_id", args.rule_id.clone()),
        ("since", args.since.clone()),
        ("q", args.query.clone()),
        ("limit", Some(args.limit.to_string())),
        ("building_blocks", (!args.building_blocks).then(|| "false".to_owned())),
    ];
    let page = Client::new(&args.server)?.get("/alerts", &query)?;
    let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
    let stdout = std::io::stdout();
    let table = match args.output {
        Output::Table => true,
        Output::Auto => stdout.is_terminal(),
        Output::Jsonl | Output::Csv => false,
    };
    let mut out = anstream::AutoStream::auto(stdout.lock());
    if !table {
        for alert in &alerts {
            serde_json::to_writer(&mut out, alert)?;
            writeln!(out)?;
        }
        return Ok(if alerts.is_empty() { Exit::No } else { Exit::Success });
    }
    if alerts.is_empty() {
        writeln!(out, "No alerts.")?;
        return Ok(Exit::No);
    }
    let bold = Style::new().bold();
    writeln!(out, "{bold}{:<24}  {:<9} {:<12}  {:<64}  rule{bold:#}", "created", "severity", "status", "id")?;
    for alert in &alerts {
        let text = |pointer: &str| alert.pointer(pointer).and_then(Value::as_str).unwrap_or("-").to_owned();
        let severity = text("/severity");
        let style = rules::Severity::parse(&severity).map_or(Style::new(), severity_style);
        writeln!(
            out,
            "{:<24}  {style}{severity:<9}{style:#} {:<12}  {:<64}  {}",
            text("/created"),
            text("/status"),
            text("/id"),
            alert["document"]["kibana.alert.rule.name"].as_str().unwrap_or("-")
        )?;
    }
    let total = page["total"].as_u64().unwrap_or(0);
    writeln!(out, "\n{} of {total} alerts.", alerts.len())?;
    Ok(Exit::Success)
}

fn set_status(args: AlertStatusArgs, status: &str) -> anyhow::Result<Exit> {
    let body = json!({"ids": args.ids, "status": status, "note": args.note});
    let answer = Client::new(&args.server)?.post("/alerts/status", &body)?;
    let mut out = std::io::stdout().lock();
    let ids = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    for id in ids("updated") {
        writeln!(out, "{status}: {}", id.as_str().unwrap_or("?"))?;
    }
    let missing = ids("not_found");
    for id in &missing {
        crate::report::note(&format!("no alert {}", id.as_str().unwrap_or("?")));
    }
    Ok(if missing.is_empty() { Exit::Success } else { Exit::No })
}
