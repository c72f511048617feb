//! `vigil rules run|enable|disable|executions`: operate the rules of a running server.

use std::io::Write;

use anstyle::Style;
use anyhow::bail;
use serde_json::{Value, json};

use crate::cli::{RemoteRuleArgs, RuleExecutionsArgs, RulesRunArgs};
use crate::client::Client;
use crate::exit::Exit;
use crate::numbers::{count, thousands};

/// The server's rules.
fn rules(client: &Client) -> anyhow::Result<Vec<Value>> {
    Ok(client.get("/rules", &[])?["rules"].as_array().cloned().unwrap_or_default())
}

/// The rule `wanted` names among `rules`: by rule_id, else the one whose name holds it.
fn resolve<'r>(rules: &'r [Value], wanted: &str) -> anyhow::Result<&'r Value> {
    if let Some(rule) = rules.iter().find(|r| r["rule_id"] == wanted) {
        return Ok(rule);
    }
    let lower = wanted.to_lowercase();
    let named: Vec<&Value> =
        rules.iter().filter(|r| r["name"].as_str().is_some_and(|n| n.to_lowercase().contains(&lower))).collect();
    match named.as_slice() {
        [rule] => Ok(rule),
        [] => bail!("the server has no rule with the id or a name holding `{wanted}`"),
        several => {
            let names: Vec<String> = several
                .iter()
                .take(10)
                .map(|r| format!("\n  {}  {}", r["rule_id"].as_str().unwrap_or("?"), r["name"].as_str().unwrap_or("?")))
                .collect();
            bail!(
                "{} have a name holding `{wanted}`; give a rule_id:{}",
                count(several.len() as u64, "rule"),
                names.concat()
            )
        }
    }
}

fn id(rule: &Value) -> &str {
    rule["rule_id"].as_str().unwrap_or_default()
}

/// Runs `vigil rules run`.
pub fn run(args: &RulesRunArgs) -> anyhow::Result<Exit> {
    let client = Client::new(&args.server)?;
    let all = rules(&client)?;
    let chosen: Vec<&Value> = if args.all {
        all.iter().filter(|r| r["enabled"] == true && r["unsupported"].is_null()).collect()
    } else {
        args.rules.iter().map(|wanted| resolve(&all, wanted)).collect::<anyhow::Result<_>>()?
    };
    let mut out = anstream::stdout().lock();
    let mut failed = false;
    for rule in chosen {
        let execution = client.post(&format!("/rules/{}/run", id(rule)), &json!({}))?;
        failed |= execution["status"] != "succeeded";
        write_execution(&mut out, rule["name"].as_str().unwrap_or("?"), &execution)?;
    }
    Ok(if failed { Exit::No } else { Exit::Success })
}

/// Runs `vigil rules enable` and `vigil rules disable`.
pub fn switch(args: &RemoteRuleArgs, on: bool) -> anyhow::Result<Exit> {
    let client = Client::new(&args.server)?;
    let all = rules(&client)?;
    let rule = resolve(&all, &args.rule)?;
    let action = if on { "enable" } else { "disable" };
    client.post(&format!("/rules/{}/{action}", id(rule)), &json!({}))?;
    writeln!(std::io::stdout(), "{action}d: {} ({})", rule["name"].as_str().unwrap_or("?"), id(rule))?;
    Ok(Exit::Success)
}

/// Runs `vigil rules executions`.
pub fn executions(args: &RuleExecutionsArgs) -> anyhow::Result<Exit> {
    let client = Client::new(&args.rule.server)?;
    let all = rules(&client)?;
    let rule = resolve(&all, &args.rule.rule)?;
    let list = client.get(&format!("/rules/{}/executions", id(rule)), &[("limit", Some(args.limit.to_string()))])?;
    let executions = list["executions"].as_array().cloned().unwrap_or_default();
    let mut out = anstream::stdout().lock();
    if executions.is_empty() {
        writeln!(out, "{} has not run yet.", rule["name"].as_str().unwrap_or("?"))?;
        return Ok(Exit::No);
    }
    for execution in &executions {
        write_execution(&mut out, rule["name"].as_str().unwrap_or("?"), execution)?;
    }
    Ok(Exit::Success)
}

/// One execution: status, window, events, alerts, held back, warnings.
fn write_execution(out: &mut dyn Write, name: &str, e: &Value) -> std::io::Result<()> {
    let n = |key: &str| e[key].as_u64().unwrap_or(0);
    let status = e["status"].as_str().unwrap_or("?");
    let style = match status {
        "succeeded" => anstyle::AnsiColor::Green.on_default(),
        "failed" => anstyle::AnsiColor::Red.on_default().bold(),
        _ => anstyle::AnsiColor::Yellow.on_default(),
    };
    let dim = Style::new().dimmed();
    writeln!(
        out,
        "{style}{status:<15}{style:#} {} {name}: {} from {}{}",
        e["started"].as_str().unwrap_or("?"),
        count(n("alerts"), "alert"),
        count(n("events"), "event"),
        match (n("held_back"), n("terms")) {
            (0, 0) => String::new(),
            (0, terms) => format!(", {} checked against the history", count(terms, "term")),
            (held, _) => format!(", {} held back by max_signals", thousands(held)),
        },
    )?;
    writeln!(
        out,
        "{dim}                window {} to {}, ingest sequence {} to {}, {} ms{}{dim:#}",
        e["window_from"].as_str().unwrap_or("?"),
        e["window_to"].as_str().unwrap_or("?"),
        n("seq_after"),
        n("seq_to"),
        n("duration_ms"),
        if n("late") > 0 { format!(", {} on late events", thousands(n("late"))) } else { String::new() },
    )?;
    for warning in e["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        writeln!(out, "                warning: {warning}")?;
    }
    Ok(())
}
