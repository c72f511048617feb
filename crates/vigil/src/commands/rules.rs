//! `vigil rules list|show|validate|test`, and the rule loading that `scan` shares.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anstyle::Style;
use ecs::date::Timestamp;
use ecs::{Catalog, Document};
use engine::{RuleSet, Skipped};
use rules::{Filter, Loaded, Origin, Rule};

use crate::cli::{ListArgs, RuleArgs, RuleExplainArgs, RulesCommand, ShowArgs};
use crate::commands::kql::explain_file;
use crate::commands::rule_ops;
use crate::exit::Exit;
use crate::fields;
use crate::numbers::{count, thousands};
use crate::output::severity_style;
use crate::report;

/// Runs one `vigil rules` subcommand.
pub fn run(command: RulesCommand) -> anyhow::Result<Exit> {
    match command {
        RulesCommand::List(args) => list(&args),
        RulesCommand::Show(args) => show(&args),
        RulesCommand::Validate(args) => validate(&args.paths),
        RulesCommand::Test(args) => test(&args.paths),
        RulesCommand::Explain(args) => explain(&args),
        RulesCommand::Run(args) => rule_ops::run(&args),
        RulesCommand::Enable(args) => rule_ops::switch(&args, true),
        RulesCommand::Disable(args) => rule_ops::switch(&args, false),
        RulesCommand::Executions(args) => rule_ops::executions(&args),
    }
}

/// The rules at `paths`, or the built-in pack when there are none.
pub fn load(paths: &[PathBuf]) -> Loaded {
    if paths.is_empty() {
        return rules::builtin();
    }
    let mut loaded = Loaded::default();
    for path in paths {
        let more = rules::load_path(path);
        loaded.rules.extend(more.rules);
        loaded.diagnostics.extend(more.diagnostics);
    }
    loaded
}

/// Loads the rules of `args` (errors reported, one line each) and keeps those the filters accept.
/// `None` when a path names nothing.
pub fn load_selected(args: &RuleArgs, extra: &Filter) -> anyhow::Result<Option<Vec<Rule>>> {
    for path in &args.rules {
        if !path.exists() {
            anyhow::bail!("--rules {}: no such file or folder", path.display());
        }
    }
    let loaded = load(&args.rules);
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    for diagnostic in errors.iter().take(20) {
        report::note(diagnostic);
    }
    if errors.len() > 20 {
        report::note(&format!("... and {} more rule errors (vigil rules validate lists them all)", errors.len() - 20));
    }
    let filter = Filter {
        min_severity: args.min_severity.map(Into::into),
        tags: args.tags.clone(),
        ids: args.rule_ids.clone(),
        kinds: extra.kinds.clone(),
        tactics: extra.tactics.clone(),
        exclude_rules: args.exclude_rules.clone(),
        exclude_tags: args.exclude_tags.clone(),
    };
    Ok(Some(loaded.rules.into_iter().filter(|r| filter.accepts(r)).collect()))
}

/// One line per kind of rule vigil cannot run, with how many.
pub fn report_skipped(skipped: &[Skipped]) {
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for s in skipped {
        *by_reason.entry(&s.reason).or_default() += 1;
    }
    for (reason, n) in by_reason {
        report::note(&format!("skipped {}: {reason}", count(n as u64, "rule")));
    }
}

/// Says, per rule that runs, which of its fields vigil does not apply yet: such a rule runs, but
/// not as Kibana would run it.
pub fn report_ignored<'a>(rules: impl Iterator<Item = &'a Rule>) {
    for rule in rules {
        for (_, message) in rule.ignored() {
            report::note(&format!("warning: {}: {message}", rule.name));
        }
    }
}

fn list(args: &ListArgs) -> anyhow::Result<Exit> {
    let extra = Filter { kinds: args.kinds.clone(), tactics: args.tactics.clone(), ..Filter::default() };
    let Some(selected) = load_selected(&args.rules, &extra)? else { return Ok(Exit::No) };
    let mut out = anstream::stdout().lock();
    for rule in &selected {
        let runs = match (rule.unsupported(), rule.ignored().len()) {
            (Some(_), _) => " (cannot run yet)".to_owned(),
            (None, 0) => String::new(),
            (None, n) => format!(" (runs without {n} of its fields: see `vigil rules show`)"),
        };
        write!(
            out,
            "{}{:<8}{:#} ",
            severity_style(rule.severity),
            rule.severity.as_str(),
            severity_style(rule.severity)
        )?;
        writeln!(out, "{:>3}  {:<16} {}  {}{runs}", rule.risk_score, rule.kind.as_str(), rule.id, rule.name)?;
    }
    Ok(if selected.is_empty() { Exit::No } else { Exit::Success })
}

/// The rule `wanted` names: by rule_id, else the only one whose name holds it (the others are
/// listed, and the answer is no).
fn find_rule<'r>(loaded: &'r Loaded, wanted: &str) -> Result<&'r Rule, Exit> {
    let lower = wanted.to_lowercase();
    let found: Vec<&Rule> = match loaded.rules.iter().find(|r| r.id.0 == wanted) {
        Some(rule) => vec![rule],
        None => loaded.rules.iter().filter(|r| r.name.to_lowercase().contains(&lower)).collect(),
    };
    match found.as_slice() {
        [rule] => Ok(*rule),
        [] => {
            report::note(&format!("no rule has the id or a name containing `{wanted}`"));
            Err(Exit::No)
        }
        several => {
            report::note(&format!("{} match `{wanted}`; give a rule_id:", count(several.len() as u64, "rule")));
            for rule in several.iter().take(20) {
                report::note(&format!("  {}  {}", rule.id, rule.name));
            }
            Err(Exit::No)
        }
    }
}

fn show(args: &ShowArgs) -> anyhow::Result<Exit> {
    let loaded = load(&args.rules);
    let rule = match find_rule(&loaded, &args.rule) {
        Ok(rule) => rule,
        Err(exit) => return Ok(exit),
    };
    let mut out = anstream::stdout().lock();
    write_rule(&mut out, rule)?;
    Ok(Exit::Success)
}

/// `vigil rules explain`: the rule's query (with the filters KQL can say) on each event.
fn explain(args: &RuleExplainArgs) -> anyhow::Result<Exit> {
    let loaded = load(&args.rules);
    let rule = match find_rule(&loaded, &args.rule) {
        Ok(rule) => rule,
        Err(exit) => return Ok(exit),
    };
    if let Some(reason) = rule.unsupported() {
        report::note(&format!("{} cannot run: {reason}", rule.name));
        return Ok(Exit::No);
    }
    if rule.kind == rules::RuleType::Eql {
        return explain_eql(rule, &args.events);
    }
    let text = rule.effective_query();
    let matcher = match kql::parse(&text).and_then(|q| q.compile_at(Catalog::builtin(), Timestamp::now())) {
        Ok(matcher) => matcher,
        Err(err) => {
            report::print_kql_error(&text, &err);
            return Ok(Exit::No);
        }
    };
    let mut out = anstream::stdout().lock();
    writeln!(out, "{}\nquery: {}\n", rule.name, text.trim())?;
    let wildcards = rule
        .filters
        .as_ref()
        .map_or(0, |f| f.iter().filter(|f| matches!(f, rules::QueryFilter::Wildcard { .. })).count());
    if wildcards > 0 {
        report::note(&format!(
            "note: the rule's {} are tested beside the query and not explained here",
            count(wildcards as u64, "wildcard filter")
        ));
    }
    let matched = explain_file(&mut out, &args.events, &mut |_, value| vec![matcher.explain(&Document::new(value))])?;
    Ok(if matched { Exit::Success } else { Exit::No })
}

/// [`explain`] for an EQL rule: an event query on each event; for a sequence or sample, each
/// event against each term, then the sequences (or samples) the events form, the input taken as
/// one window.
fn explain_eql(rule: &Rule, events: &Path) -> anyhow::Result<Exit> {
    let text = rule.query.as_deref().unwrap_or_default();
    // `unsupported()` said it parses and compiles.
    let query = eql::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = anstream::stdout().lock();
    writeln!(
        out,
        "{}
query: {}
",
        rule.name,
        text.trim()
    )?;
    if let eql::QueryKind::Event(filter) = &query.kind {
        let matcher =
            filter.compile(Catalog::builtin(), rule.event_category_field()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let matched = explain_file(&mut out, events, &mut |_, value| vec![matcher.explain(&value)])?;
        return Ok(if matched { Exit::Success } else { Exit::No });
    }
    let matcher =
        query.sequence_matcher(Catalog::builtin(), rule.event_category_field()).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The events that can take part, by line.
    let mut taking: Vec<(u64, serde_json::Value)> = Vec::new();
    explain_file(&mut out, events, &mut |n, value| {
        let explained = matcher.explain(&value);
        if explained.iter().any(|e| e.held) {
            taking.push((n, value));
        }
        explained
    })?;
    let offered = taking
        .iter()
        .map(|(n, doc)| eql::Event { time: engine::order_time(rule, doc, None), doc, handle: *n })
        .collect();
    let found = matcher.find(offered, rule.max_signals as usize);
    let finds = matcher.finds();
    writeln!(
        out,
        "\n{} over the whole input as one window (an execution sees its own window only):",
        count(found.sequences.len() as u64, finds)
    )?;
    for group in &found.sequences {
        let lines: Vec<String> = group.iter().map(u64::to_string).collect();
        writeln!(out, "  lines {}", lines.join(", "))?;
    }
    if found.beyond_limit > 0 {
        writeln!(out, "  and {} beyond max_signals {}", count(found.beyond_limit as u64, finds), rule.max_signals)?;
    }
    if found.dropped > 0 {
        writeln!(out, "  {}", matcher.given_up(found.dropped))?;
    }
    Ok(if found.sequences.is_empty() { Exit::No } else { Exit::Success })
}

fn write_rule(out: &mut dyn Write, rule: &Rule) -> io::Result<()> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    writeln!(out, "{bold}{}{bold:#}", rule.name)?;
    let field = |out: &mut dyn Write, label: &str, value: &str| writeln!(out, "{dim}{label:<14}{dim:#}{value}");
    field(out, "rule_id", &rule.id.0)?;
    let severity = format!(
        "{}{}{:#} (risk score {})",
        severity_style(rule.severity),
        rule.severity,
        severity_style(rule.severity),
        rule.risk_score
    );
    field(out, "severity", &severity)?;
    let language = rule.language.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
    let runs = rule.unsupported().map(|why| format!(" — {why}")).unwrap_or_default();
    field(out, "type", &format!("{}{language}{runs}", rule.kind))?;
    field(
        out,
        "schedule",
        &format!(
            "every {}, {} to {}, at most {} alerts per execution",
            rule.interval, rule.from.0, rule.to.0, rule.max_signals
        ),
    )?;
    if let Some(field_name) = &rule.timestamp_override {
        field(out, "time field", field_name)?;
    }
    if let Some(threshold) = &rule.threshold {
        let by = if threshold.fields.is_empty() { "all events".to_owned() } else { threshold.fields.join(", ") };
        let mut text = format!("at least {} in a window, grouped by {by}", count(threshold.value, "event"));
        if let Some(c) = &threshold.cardinality {
            text.push_str(&format!(", with at least {} distinct values of {}", thousands(c.value), c.field));
        }
        field(out, "threshold", &text)?;
    }
    if let Some(new_terms) = &rule.new_terms {
        let text =
            format!("values of {} not seen since {}", new_terms.fields.join(" + "), new_terms.history_window_start.0);
        field(out, "new terms", &text)?;
    }
    field(out, "index", &rule.index.join(", "))?;
    field(out, "version", &rule.version.to_string())?;
    field(out, "author", &rule.texts("author").join(", "))?;
    if let Some(license) = rule.text("license") {
        field(out, "license", license)?;
    }
    field(out, "tags", &rule.tags.join(", "))?;
    field(out, "from", &rule.origin.to_string())?;
    for threat in &rule.threat {
        field(out, "MITRE ATT&CK", &format!("{} {}", threat.tactic.id, threat.tactic.name))?;
        for tech in &threat.techniques {
            writeln!(out, "{:14}  {} {}", "", tech.entry.id, tech.entry.name)?;
            for sub in &tech.subtechniques {
                writeln!(out, "{:14}    {} {}", "", sub.id, sub.name)?;
            }
        }
    }
    for reference in rule.texts("references") {
        field(out, "reference", reference)?;
    }
    if let Some(query) = &rule.query {
        writeln!(out, "\n{bold}Query{bold:#}\n{}", query.trim())?;
    }
    if let Ok(filters) = &rule.filters
        && !filters.is_empty()
    {
        let filters: Vec<String> = filters.iter().map(ToString::to_string).collect();
        writeln!(out, "\n{bold}Filters{bold:#} (AND'ed with the query)\n{}", filters.join("\n"))?;
    }
    for (_, ignored) in rule.ignored() {
        field(out, "warning", &ignored)?;
    }
    writeln!(out, "\n{bold}Description{bold:#}\n{}", rule.description.trim())?;
    for fp in rule.texts("false_positives") {
        writeln!(out, "\n{bold}False positives{bold:#}\n{}", dedent(fp))?;
    }
    for (key, title) in [("note", "Investigation guide"), ("setup", "Setup")] {
        if let Some(text) = rule.text(key) {
            writeln!(out, "\n{bold}{title}{bold:#}")?;
            write_markdown(out, text)?;
        }
    }
    Ok(())
}

/// Removes the indentation common to all lines (TOML multi-line strings keep it).
fn dedent(text: &str) -> String {
    let indent =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    text.lines().map(|l| l.get(indent..).unwrap_or(l.trim_start())).collect::<Vec<_>>().join("\n").trim().to_owned()
}

/// Markdown for a terminal: headings bold, bullets as `•`, `code` and **strong** highlighted.
pub fn write_markdown(out: &mut dyn Write, text: &str) -> io::Result<()> {
    let heading = Style::new().bold().underline();
    let code = anstyle::AnsiColor::Cyan.on_default();
    let strong = Style::new().bold();
    let mut after_blank = true;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(title) = trimmed.strip_prefix('#') {
            let gap = if after_blank { "" } else { "\n" };
            writeln!(out, "{gap}{heading}{}{heading:#}", title.trim_start_matches('#').trim())?;
            after_blank = false;
            continue;
        }
        after_blank = trimmed.is_empty();
        let indent = &line[..line.len() - trimmed.len()];
        let (bullet, body) = match trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) {
            Some(body) => ("• ", body),
            None => ("", trimmed),
        };
        write!(out, "{indent}{bullet}")?;
        let mut in_code = false;
        for (i, part) in body.split('`').enumerate() {
            if i > 0 {
                in_code = !in_code;
            }
            if in_code {
                write!(out, "{code}{part}{code:#}")?;
            } else {
                for (j, piece) in part.split("**").enumerate() {
                    if j % 2 == 1 { write!(out, "{strong}{piece}{strong:#}")? } else { write!(out, "{piece}")? }
                }
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

fn validate(paths: &[PathBuf]) -> anyhow::Result<Exit> {
    for path in paths {
        if !path.exists() {
            anyhow::bail!("{}: no such file or folder", path.display());
        }
    }
    let loaded = load(paths);
    let color = io::stderr().is_terminal();
    for diagnostic in &loaded.diagnostics {
        report::print_diagnostic(diagnostic, color);
    }
    // Per type: rules, rules that run, and of those the ones run without some of their fields.
    let mut by_type: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for rule in &loaded.rules {
        let entry = by_type.entry(rule.kind.to_string()).or_default();
        entry.0 += 1;
        match rule.unsupported() {
            None => {
                entry.1 += 1;
                entry.2 += usize::from(!rule.ignored().is_empty());
            }
            Some(why) => report::note(&format!("{}: {} rule \"{}\": {why}", rule.origin, rule.kind, rule.name)),
        }
    }
    let (mut field_warnings, mut unchecked) = (0, 0);
    let field_check = fields::FieldCheck::new(Catalog::builtin());
    for rule in loaded.rules.iter().filter(|r| r.unsupported().is_none() && r.language.as_deref() == Some("kuery")) {
        let Ok(query) = kql::parse(&rule.effective_query()) else { continue };
        let checked = field_check.check(&query);
        unchecked += checked.unchecked;
        for unknown in checked.unknown {
            field_warnings += 1;
            let meant = unknown.suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
            report::note(&format!(
                "{}: warning: {}: no catalog (ECS, Office 365) knows the field `{}`: only documents that add it of their own have it{meant}",
                rule.origin, rule.name, unknown.field
            ));
        }
    }
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = loaded.diagnostics.len() - errors + field_warnings;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{} loaded, {}, {}",
        count(loaded.rules.len() as u64, "rule"),
        count(errors as u64, "error"),
        count(warnings as u64, "warning")
    )?;
    if unchecked > 0 {
        writeln!(
            out,
            "  ({} of integrations vigil has no catalog for were not checked)",
            count(unchecked as u64, "field use")
        )?;
    }
    for (kind, (count, runnable, partly)) in &by_type {
        let mut can = if runnable == count { "all run".to_owned() } else { format!("{runnable} run") };
        if *partly > 0 {
            can.push_str(&format!(", {partly} without fields vigil does not apply yet: see the warnings"));
        }
        writeln!(out, "  {kind:<17} {count:>5}  ({can})")?;
    }
    Ok(if errors > 0 { Exit::No } else { Exit::Success })
}

/// The test events of a rule: built-in pack rules carry them; a rule file `x.toml` has them in
/// `x.tests/alert.ndjson` and `x.tests/no-alert.ndjson`.
fn examples(rule: &Rule) -> Option<(String, String, String)> {
    match &rule.origin {
        Origin::Builtin(file) => rules::PACK.iter().find(|p| p.file == *file).map(|p| {
            (format!("built-in:{}", p.file.trim_end_matches(".toml")), p.alert.to_owned(), p.no_alert.to_owned())
        }),
        Origin::File { path, .. } => {
            let dir = path.with_extension("tests");
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
            let (alert, no_alert) = (read("alert.ndjson"), read("no-alert.ndjson"));
            (alert.is_some() || no_alert.is_some())
                .then(|| (dir.display().to_string(), alert.unwrap_or_default(), no_alert.unwrap_or_default()))
        }
    }
}

fn test(paths: &[PathBuf]) -> anyhow::Result<Exit> {
    let loaded = load(paths);
    for diagnostic in loaded.diagnostics.iter().filter(|d| d.is_error()) {
        report::note(diagnostic);
    }
    let now = Timestamp::now();
    let mut out = io::stdout().lock();
    let (mut passed, mut failed, mut untested) = (0, 0, 0u64);
    for rule in &loaded.rules {
        let Some((dir, alert, no_alert)) = examples(rule) else {
            untested += 1;
            continue;
        };
        let (set, skipped) = RuleSet::compile(vec![rule.clone()], Catalog::builtin(), now);
        if let Some(s) = skipped.first() {
            writeln!(out, "FAIL {}: {}", rule.name, s.reason)?;
            failed += 1;
            continue;
        }
        let mut problems = Vec::new();
        for (file, text, expected) in [("alert.ndjson", &alert, true), ("no-alert.ndjson", &no_alert, false)] {
            for verdict in engine::run_examples(&set, text) {
                let place = format!("{}:{}", Path::new(&dir).join(file).display(), verdict.line);
                match verdict.alerted {
                    Err(message) => problems.push(format!("{place}: {message}")),
                    Ok(alerted) if alerted != expected => {
                        problems.push(format!("{place}: {}", if expected { "did not alert" } else { "alerted" }))
                    }
                    Ok(_) => {}
                }
            }
        }
        let counts = format!("{} alert, {} no-alert events", lines(&alert), lines(&no_alert));
        if problems.is_empty() {
            passed += 1;
            writeln!(out, "ok   {} ({counts})", rule.name)?;
        } else {
            failed += 1;
            writeln!(out, "FAIL {} ({counts})", rule.name)?;
            for problem in problems {
                writeln!(out, "     {problem}")?;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed, {} without test events", count(untested, "rule"))?;
    Ok(if failed > 0 || passed == 0 { Exit::No } else { Exit::Success })
}

fn lines(ndjson: &str) -> usize {
    ndjson.lines().filter(|l| !l.trim().is_empty()).count()
}
