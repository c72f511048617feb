//! `vigil events search`: the events a running server stores, by KQL and time, and the pivot
//! from an alert to the events of its user and source IP.

use std::io::{IsTerminal, Write};

use anstyle::Style;
use anyhow::{Context, bail};
use ecs::date::Timestamp;
use serde_json::Value;

use crate::cli::{EventSearchArgs, EventsCommand, ListOutput};
use crate::client::Client;
use crate::exit::Exit;
use crate::input::{age, date};
use crate::numbers::count;
use crate::output::{ip_of, user_of};

/// Runs `vigil events ...`.
pub fn run(command: EventsCommand) -> anyhow::Result<Exit> {
    match command {
        EventsCommand::Search(args) => search(&args),
    }
}

/// `value` as a quoted KQL string.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The query and time range of `--around ALERT`: the events of the alert's user or source IP,
/// `--since` on either side of its event.
fn around(
    client: &Client,
    alert: &str,
    since: &str,
    query: Option<&str>,
) -> anyhow::Result<(String, Timestamp, Timestamp)> {
    let alert = client.get(&format!("/alerts/{alert}"), &[])?;
    let doc = &alert["document"];
    let Some(nanos) = age(since) else { bail!("--since {since}: with --around, an age such as 2h") };
    let time = doc
        .get("kibana.alert.original_time")
        .and_then(Value::as_str)
        .and_then(|t| Timestamp::parse(t, false))
        .context("the alert has no event time (kibana.alert.original_time)")?;
    let mut pivots = Vec::new();
    for field in ["user.name", "user.id", "source.ip", "client.ip"] {
        if let Some(value) = engine::field_texts(doc, field).into_iter().next() {
            pivots.push(format!("{field}:{}", quoted(&value)));
        }
    }
    if pivots.is_empty() {
        bail!("the alert's event has no user (user.name, user.id) and no source IP (source.ip, client.ip) to pivot on");
    }
    let mut kql = format!("({})", pivots.join(" or "));
    if let Some(query) = query {
        kql = format!("{kql} and ({query})");
    }
    let span = |end: Option<i64>| end.map(Timestamp::from_nanos).context("--since: too long a span");
    Ok((kql, span(time.as_nanos().checked_sub(nanos))?, span(time.as_nanos().checked_add(nanos))?))
}

fn search(args: &EventSearchArgs) -> anyhow::Result<Exit> {
    let client = Client::new(&args.server)?;
    let now = Timestamp::now();
    let (query, since, until) = match &args.around {
        Some(alert) => around(&client, alert, &args.since, args.query.as_deref())?,
        None => (
            args.query.clone().unwrap_or_default(),
            date(&args.since, now, "--since")?,
            args.until.as_deref().map_or(Ok(now), |u| date(u, now, "--until"))?,
        ),
    };
    if args.around.is_some() {
        crate::report::note(&format!("events matching {query} from {since} to {until}"));
    }
    let mut events = Vec::new();
    let mut after: Option<u64> = None;
    let mut timed_out = false;
    while events.len() < args.limit {
        let params = [
            ("q", Some(query.clone())),
            ("since", Some(since.to_string())),
            ("until", Some(until.to_string())),
            ("after", after.map(|a| a.to_string())),
            ("limit", Some((args.limit - events.len()).min(1000).to_string())),
        ];
        let page = client.get("/events", &params)?;
        let found = page["events"].as_array().cloned().unwrap_or_default();
        timed_out |= page["timed_out"] == true;
        events.extend(found);
        match page["next_after"].as_u64() {
            Some(next) if !timed_out => after = Some(next),
            _ => break,
        }
    }
    let stdout = std::io::stdout();
    let table = match args.output {
        ListOutput::Auto => stdout.is_terminal(),
        ListOutput::Table => true,
        ListOutput::Jsonl | ListOutput::Csv => false,
    };
    let mut out = anstream::AutoStream::auto(stdout.lock());
    if args.output == ListOutput::Csv {
        let header = ["time", "index", "id", "user", "source_ip", "action", "outcome"];
        crate::output::csv_row(&mut out, header)?;
    }
    if table {
        let bold = Style::new().bold();
        writeln!(out, "{bold}{:<24}  {:<28}  {:<16}  {:<24}  outcome{bold:#}", "time", "user", "source ip", "action")?;
    }
    for event in &events {
        let doc = &event["document"];
        let field = |path: &str| engine::field_texts(doc, path).join(", ");
        let (time, user, ip) = (field("@timestamp"), user_of(doc), ip_of(doc));
        let (action, outcome) = (field("event.action"), field("event.outcome"));
        if table {
            writeln!(out, "{time:<24}  {user:<28}  {ip:<16}  {action:<24}  {outcome}")?;
        } else if args.output == ListOutput::Csv {
            let index = event["index"].as_str().unwrap_or_default();
            let id = event["id"].as_str().unwrap_or_default();
            crate::output::csv_row(&mut out, [time.as_str(), index, id, &user, &ip, &action, &outcome])?;
        } else {
            serde_json::to_writer(&mut out, doc)?;
            writeln!(out)?;
        }
    }
    if table {
        writeln!(out, "\n{}", count(events.len() as u64, "event"))?;
    }
    if timed_out {
        crate::report::note(
            &"warning: the search stopped at the server's search budget; narrow the query or the time range",
        );
    }
    Ok(if events.is_empty() { Exit::No } else { Exit::Success })
}
