//! Rules: the table (switch, type, schedule, last execution, next run, alert counts, rules that
//! did not load), a rule's page (query, indices, executions, guide, run now), and the ATT&CK
//! matrix of the enabled rules.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use ecs::date::Timestamp;
use engine::storage::{ExecutionRecord, RuleState};
use rules::Rule;
use serde::Deserialize;

use crate::routes::rules as rule_routes;
use crate::state::AppState;
use crate::ui::format::{self, Piece, Tactic};
use crate::ui::session::Signed;
use crate::ui::{Chrome, UiError, back, html, markdown};

/// A rule as the table shows it.
pub(crate) struct RuleRow {
    pub id: String,
    pub name: String,
    pub severity: String,
    pub kind: String,
    pub schedule: String,
    pub enabled: bool,
    pub unsupported: Option<String>,
    pub last: Option<Execution>,
    pub next: String,
    pub open: u64,
    pub alerts: u64,
}

impl RuleRow {
    /// The row of `rule`, in `state`, with its last execution and its (open, all) alert counts.
    fn new(
        rule: &Rule,
        state: &RuleState,
        last: Option<&ExecutionRecord>,
        (open, alerts): (u64, u64),
        now: Timestamp,
    ) -> RuleRow {
        let enabled = state.enabled.unwrap_or(rule.enabled);
        RuleRow {
            id: rule.id.0.clone(),
            name: rule.name.clone(),
            severity: rule.severity.as_str().to_owned(),
            kind: rule.kind.as_str().to_owned(),
            schedule: format!("every {}, from {}", rule.interval, rule.from.0),
            enabled,
            unsupported: rule.unsupported(),
            last: last.map(Execution::from),
            next: next_run(rule, state, enabled, now),
            open,
            alerts,
        }
    }
}

/// An execution as the pages show it.
pub(crate) struct Execution {
    pub started: String,
    pub status: String,
    pub duration: String,
    pub events: u64,
    pub alerts: u64,
    pub held_back: u64,
    pub late: u64,
    /// What exception lists removed: `list: n`, joined.
    pub excepted: String,
    pub warnings: Vec<String>,
}

impl From<&ExecutionRecord> for Execution {
    fn from(e: &ExecutionRecord) -> Execution {
        Execution {
            started: format::time(e.started),
            status: e.status.as_str().to_owned(),
            duration: format!("{} ms", e.duration_ms),
            events: e.events,
            alerts: e.alerts,
            held_back: e.held_back,
            late: e.late,
            excepted: e.excepted.iter().map(|(list, n)| format!("{list}: {n}")).collect::<Vec<_>>().join(", "),
            warnings: e.warnings.clone(),
        }
    }
}

/// When a rule runs next: its last scheduled start plus its interval (now, if that passed).
fn next_run(rule: &Rule, state: &RuleState, enabled: bool, now: Timestamp) -> String {
    if !enabled || rule.unsupported().is_some() {
        return "—".into();
    }
    let interval = i64::try_from(rule.interval.as_duration().as_nanos()).unwrap_or(i64::MAX);
    match state.last_scheduled {
        Some(last) if last.as_nanos().saturating_add(interval) > now.as_nanos() => {
            format::time(Timestamp::from_nanos(last.as_nanos().saturating_add(interval)))
        }
        _ => "due now".into(),
    }
}

/// The table's filter: rules of one ATT&CK technique (the matrix links here).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RuleFilter {
    technique: Option<String>,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct Rules {
    chrome: Chrome,
    technique: String,
    rows: Vec<RuleRow>,
    problems: Vec<String>,
}

fn uses_technique(rule: &Rule, technique: &str) -> bool {
    rule.threat
        .iter()
        .flat_map(|t| &t.techniques)
        .any(|t| t.entry.id == technique || t.subtechniques.iter().any(|s| s.id == technique))
}

pub(crate) async fn table(
    State(state): State<AppState>,
    signed: Signed,
    Query(filter): Query<RuleFilter>,
) -> Result<Response, UiError> {
    let store = state.store.clone();
    let now = Timestamp::now();
    let (states, last, activity) =
        state.blocking(move || Ok((store.rule_states()?, store.last_executions()?, store.activity(now, 1)?))).await?;
    let counts: HashMap<&str, (u64, u64)> =
        activity.by_rule.iter().map(|(id, open, all)| (id.as_str(), (*open, *all))).collect();
    let technique = filter.technique.unwrap_or_default();
    let pack = state.rules();
    let rows = pack
        .rules
        .iter()
        .filter(|r| technique.is_empty() || uses_technique(r, &technique))
        .map(|rule| {
            let counts = counts.get(rule.id.0.as_str()).copied().unwrap_or_default();
            RuleRow::new(rule, &RuleState::of(&states, &rule.id.0), last.get(&rule.id.0), counts, now)
        })
        .collect();
    html(&Rules { chrome: Chrome::new("rules", &signed), technique, rows, problems: pack.problems.clone() })
}

#[derive(Template)]
#[template(path = "rule.html")]
struct RulePage {
    chrome: Chrome,
    row: RuleRow,
    description: String,
    risk_score: u8,
    max_signals: u32,
    origin: String,
    query: Vec<Piece>,
    language: String,
    index: Vec<String>,
    tags: Vec<String>,
    ignored: Vec<String>,
    tactics: Vec<Tactic>,
    executions: Vec<Execution>,
    guide: Option<String>,
    setup: Option<String>,
    references: Vec<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let rule = rule_routes::find(&state, &id)?;
    let store = state.store.clone();
    let now = Timestamp::now();
    let key = id.clone();
    let (rule_state, executions, activity) = state
        .blocking(move || Ok((store.rule_state(&key)?, store.executions(&key, 20)?, store.activity(now, 1)?)))
        .await?;
    let counts =
        activity.by_rule.iter().find(|(r, _, _)| *r == id).map(|(_, open, all)| (*open, *all)).unwrap_or_default();
    let row = RuleRow::new(&rule, &rule_state, executions.first(), counts, now);
    let page = RulePage {
        chrome: Chrome::new("rules", &signed),
        row,
        description: rule.description.clone(),
        risk_score: rule.risk_score,
        max_signals: rule.max_signals,
        origin: rule.origin.to_string(),
        query: format::highlight(&rule.effective_query()),
        language: rule.language.clone().unwrap_or_else(|| "kuery".into()),
        index: rule.index.clone(),
        tags: rule.tags.clone(),
        ignored: rule.ignored().into_iter().map(|(_, message)| message).collect(),
        tactics: format::tactics(&rule.threat),
        executions: executions.iter().map(Execution::from).collect(),
        guide: rule.text("note").map(markdown::render),
        setup: rule.text("setup").map(markdown::render),
        references: rule
            .texts("references")
            .into_iter()
            .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
            .map(str::to_owned)
            .collect(),
    };
    html(&page)
}

/// A form with only its CSRF token (and, for the switch, the new state).
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    csrf: String,
    enabled: Option<String>,
}

/// Turns a rule on or off (admin).
pub(crate) async fn switch(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Result<Response, UiError> {
    admin_form(&signed, &form)?;
    let enabled = form.enabled.as_deref() == Some("true");
    rule_routes::switch(&state, signed.principal.clone(), id.clone(), enabled).await?;
    Ok(back_to(&id))
}

/// Runs a rule now (admin).
pub(crate) async fn run(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> Result<Response, UiError> {
    admin_form(&signed, &form)?;
    rule_routes::run_now(&state, signed.principal.clone(), &id).await?;
    Ok(back_to(&id))
}

/// A form of this session, sent by an admin.
fn admin_form(signed: &Signed, form: &Action) -> Result<(), UiError> {
    signed.check(&form.csrf)?;
    signed.admin()
}

/// Back to rule `id`'s page.
fn back_to(id: &str) -> Response {
    back(Some(&format!("/ui/rules/{}", encode(id))), "/ui/rules")
}

/// A rule id as one path segment.
fn encode(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20")
}

/// One cell of the matrix: a technique with the enabled rules that detect it.
pub(crate) struct Cell {
    pub id: String,
    pub name: String,
    pub rules: usize,
    pub alerts: u64,
}

#[derive(Template)]
#[template(path = "attack.html")]
struct Attack {
    chrome: Chrome,
    /// Tactic id, name, its techniques: ATT&CK's order, tactics with no rule left out.
    columns: Vec<(String, String, Vec<Cell>)>,
    covered: usize,
}

pub(crate) async fn attack(State(state): State<AppState>, signed: Signed) -> Result<Response, UiError> {
    let store = state.store.clone();
    let now = Timestamp::now();
    let (states, activity) = state.blocking(move || Ok((store.rule_states()?, store.activity(now, 1)?))).await?;
    let alerts: HashMap<&str, u64> = activity.by_rule.iter().map(|(id, _, all)| (id.as_str(), *all)).collect();
    let pack = state.rules();
    // tactic id -> technique id -> (name, rules, alerts)
    let mut matrix: HashMap<String, BTreeMap<String, (String, usize, u64)>> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for (rule, _) in pack.enabled(&states) {
        let count = alerts.get(rule.id.0.as_str()).copied().unwrap_or(0);
        for threat in &rule.threat {
            names.entry(threat.tactic.id.clone()).or_insert_with(|| threat.tactic.name.clone());
            let column = matrix.entry(threat.tactic.id.clone()).or_default();
            for technique in &threat.techniques {
                let cell =
                    column.entry(technique.entry.id.clone()).or_insert_with(|| (technique.entry.name.clone(), 0, 0));
                cell.1 += 1;
                cell.2 += count;
            }
        }
    }
    let known = rules::TACTICS.iter().map(|(id, name)| (id.to_string(), name.to_string()));
    let others = {
        let mut ids: Vec<_> = names
            .iter()
            .filter(|(id, _)| !rules::TACTICS.iter().any(|(t, _)| t == id))
            .map(|(id, name)| (id.clone(), name.clone()))
            .collect();
        ids.sort();
        ids
    };
    let columns: Vec<_> = known
        .chain(others)
        .filter_map(|(id, name)| {
            let cells = matrix.remove(&id)?;
            let cells: Vec<Cell> = cells
                .into_iter()
                .map(|(tid, (tname, rules, alerts))| Cell { id: tid, name: tname, rules, alerts })
                .collect();
            Some((id, name, cells))
        })
        .collect();
    let covered = columns.iter().map(|(_, _, cells)| cells.len()).sum();
    html(&Attack { chrome: Chrome::new("attack", &signed), columns, covered })
}
