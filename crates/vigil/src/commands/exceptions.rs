//! `vigil exceptions list|show|import|export|add|remove|test|values`: the exception lists and
//! value lists of a running server, through its API.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{ExceptionAddArgs, ExceptionListArgs, ExceptionsCommand};
use crate::client::Client;
use crate::exit::Exit;
use crate::numbers::{count, thousands};

/// Runs `vigil exceptions ...`.
pub fn run(command: ExceptionsCommand) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match command {
        ExceptionsCommand::List(server) => {
            let summary = Client::new(&server)?.get("/exceptions", &[])?;
            let lists = summary["lists"].as_array().cloned().unwrap_or_default();
            let values = summary["value_lists"].as_array().cloned().unwrap_or_default();
            for list in &lists {
                let rules = list["rules"].as_array().map_or(0, Vec::len);
                writeln!(
                    out,
                    "{:<32} {:<9} {:<13} {:>4} items  {}{}",
                    text(&list["list_id"]),
                    text(&list["namespace_type"]),
                    text(&list["type"]),
                    list["items"],
                    text(&list["name"]),
                    if rules > 0 { format!(" (names {})", count(rules as u64, "rule")) } else { String::new() }
                )?;
            }
            for list in &values {
                writeln!(
                    out,
                    "{:<32} {:<9} {:<13} {:>4} values {}",
                    text(&list["id"]),
                    "values",
                    text(&list["type"]),
                    list["values"],
                    text(&list["name"])
                )?;
            }
            Ok(if lists.is_empty() && values.is_empty() { Exit::No } else { Exit::Success })
        }
        ExceptionsCommand::Show(args) => {
            let list = Client::new(&args.server)?.get(
                &format!("/exceptions/{}", args.list_id),
                &[("namespace_type", Some(args.namespace_type.clone()))],
            )?;
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
            Ok(Exit::Success)
        }
        ExceptionsCommand::Import(args) => {
            let client = Client::new(&args.server)?;
            for file in &args.files {
                let (format, body) = read(file)?;
                let imported = client
                    .send_text("POST", "/exceptions/_import", &[("format", format.into())], content_type(format), &body)
                    .with_context(|| file.display().to_string())?;
                writeln!(
                    out,
                    "{}: {}, {}, {}",
                    file.display(),
                    count(imported["lists"].as_u64().unwrap_or(0), "list"),
                    count(imported["items"].as_u64().unwrap_or(0), "item"),
                    count(imported["value_lists"].as_u64().unwrap_or(0), "value list")
                )?;
            }
            Ok(Exit::Success)
        }
        ExceptionsCommand::Export(args) => {
            let text =
                Client::new(&args.server)?.get_text("/exceptions/_export", &[("format", args.format.clone())])?;
            out.write_all(text.as_bytes())?;
            Ok(Exit::Success)
        }
        ExceptionsCommand::Add(args) => add(args, &mut out),
        ExceptionsCommand::Remove(args) => {
            let list = &args.list;
            let path = match &args.item_id {
                Some(item) => format!("/exceptions/{}/items/{item}", list.list_id),
                None => format!("/exceptions/{}", list.list_id),
            };
            Client::new(&list.server)?.delete(&path, &[("namespace_type", list.namespace_type.clone())])?;
            writeln!(out, "removed {}", args.item_id.as_deref().unwrap_or(&list.list_id))?;
            Ok(Exit::Success)
        }
        ExceptionsCommand::Test(args) => {
            let (format, body) = read(&args.file)?;
            let query = [("format", format.to_owned()), ("days", args.days.to_string())];
            let tested = Client::new(&args.server)?.send_text(
                "POST",
                "/exceptions/_test",
                &query,
                content_type(format),
                &body,
            )?;
            for alert in tested["removed"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{}  {:<12} {}  {}  by {}",
                    text(&alert["created"]),
                    text(&alert["status"]),
                    text(&alert["id"]),
                    text(&alert["rule_id"]),
                    text(&alert["list_id"])
                )?;
            }
            let removed = tested["removed_count"].as_u64().unwrap_or(0);
            crate::report::note(&format!(
                "{} of the {} of the last {} would have been removed",
                thousands(removed),
                count(tested["alerts"].as_u64().unwrap_or(0), "alert"),
                count(u64::from(args.days), "day")
            ));
            Ok(if removed > 0 { Exit::Success } else { Exit::No })
        }
        ExceptionsCommand::Values(args) => {
            let body = if args.file == Path::new("-") {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                std::fs::read_to_string(&args.file).with_context(|| args.file.display().to_string())?
            };
            let path = format!("/value_lists/{}", args.id);
            let stored = Client::new(&args.server)?.send_text(
                "PUT",
                &path,
                &[("type", args.kind.clone())],
                "text/plain",
                &body,
            )?;
            writeln!(
                out,
                "value list {}: {} ({})",
                args.id,
                count(stored["values"].as_u64().unwrap_or(0), "value"),
                args.kind
            )?;
            Ok(Exit::Success)
        }
    }
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// A file's form (by its extension) and text; `-` is standard input, taken as NDJSON.
fn read(file: &Path) -> anyhow::Result<(&'static str, String)> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(("ndjson", text));
    }
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    Ok((if file.extension().is_some_and(|e| e == "toml") { "toml" } else { "ndjson" }, text))
}

fn content_type(format: &str) -> &'static str {
    if format == "toml" { "application/toml" } else { "application/x-ndjson" }
}

fn entries(args: &ExceptionAddArgs) -> anyhow::Result<Vec<Value>> {
    let pair = |text: &str, what: &str| -> anyhow::Result<(String, String)> {
        let (field, value) = text.split_once('=').with_context(|| format!("--{what} {text}: expected FIELD=VALUE"))?;
        Ok((field.trim().to_owned(), value.to_owned()))
    };
    let mut out = Vec::new();
    for (kind, list) in [("match", &args.matches), ("wildcard", &args.wildcards)] {
        for text in list {
            let (field, value) = pair(text, kind)?;
            let mut entry = json!({"field": field, "type": kind, "operator": "included", "value": value});
            if args.case_insensitive {
                entry["case_insensitive"] = json!(true);
            }
            out.push(entry);
        }
    }
    out.extend(args.exists.iter().map(|field| json!({"field": field, "type": "exists", "operator": "included"})));
    if out.is_empty() {
        bail!("give the item's entries: --match FIELD=VALUE, --wildcard FIELD=PATTERN, --exists FIELD, or --item FILE");
    }
    Ok(out)
}

fn add(args: ExceptionAddArgs, out: &mut impl Write) -> anyhow::Result<Exit> {
    let ExceptionListArgs { server, list_id, namespace_type } = &args.list;
    let item = match &args.item {
        Some(file) => read(file)?.1,
        None => {
            let id = args.item_id.clone().unwrap_or_else(|| format!("cli-{}", ecs::date::Timestamp::now().as_millis()));
            let mut item = json!({"item_id": id, "name": args.name.clone().unwrap_or_else(|| id.clone()), "entries": entries(&args)?});
            if let Some(comment) = &args.comment {
                item["comments"] = json!([{"comment": comment}]);
            }
            item.to_string()
        }
    };
    let path = format!("/exceptions/{list_id}/items");
    let added = Client::new(server)?.send_text(
        "POST",
        &path,
        &[("namespace_type", namespace_type.clone())],
        "application/json",
        &item,
    )?;
    writeln!(out, "added {} to {list_id}", text(&added["item_id"]))?;
    Ok(Exit::Success)
}
