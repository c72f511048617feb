//! The overview: open alerts by severity, alerts over the last 14 days (an SVG chart drawn
//! here), top rules, and the health Kibana does not show: failing rules, truncated executions,
//! events not evaluated yet, late events, Office 365 pull lag.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use ecs::date::Timestamp;
use engine::storage::WorkflowStatus;

use crate::routes::{health, pulls};
use crate::state::AppState;
use crate::ui::format;
use crate::ui::session::Signed;
use crate::ui::{Chrome, UiError, html};

const DAY: i64 = 86_400 * 1_000_000_000;
const DAYS: i64 = 14;
const SEVERITIES: [&str; 4] = ["critical", "high", "medium", "low"];

/// One bar segment of the chart, in the SVG's units.
pub(crate) struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub severity: &'static str,
    pub title: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    chrome: Chrome,
    /// Open alerts by severity, most severe first.
    open: Vec<(&'static str, u64)>,
    open_total: u64,
    bars: Vec<Bar>,
    /// The day labels under the chart: x and `12-03`.
    days: Vec<(i64, String)>,
    chart_max: u64,
    /// rule id, name, open, total.
    top_rules: Vec<(String, String, u64, u64)>,
    /// rule id, name, why.
    failing: Vec<(String, String, String)>,
    /// rule id, name, how many held back.
    backlog: Vec<(String, String, u64)>,
    executions: u64,
    truncated: u64,
    late: u64,
    uncovered: u64,
    events: u64,
    rules_enabled: u64,
    rules_not_loaded: usize,
    /// tenant, content type, lag, up.
    pulls: Vec<(String, String, String, Option<bool>)>,
}

pub(crate) async fn page(State(state): State<AppState>, signed: Signed) -> Result<Response, UiError> {
    let now = Timestamp::now();
    let first_day = (now.as_nanos().div_euclid(DAY) - (DAYS - 1)) * DAY;
    let store = state.store.clone();
    let (activity, last) = state
        .blocking(move || Ok((store.activity(Timestamp::from_nanos(first_day), DAY)?, store.last_executions()?)))
        .await?;
    let (snapshot, _) = health::snapshot(&state).await?;
    let pack = state.rules();
    let name_of = |id: &str| pack.get(id).map_or_else(|| id.to_owned(), |r| r.name.clone());

    let open: Vec<(&'static str, u64)> = SEVERITIES
        .iter()
        .map(|s| {
            let n = activity.by_severity.iter().filter(|(sev, st, _)| sev == s && *st == WorkflowStatus::Open);
            (*s, n.map(|(_, _, n)| n).sum())
        })
        .collect();
    let open_total = open.iter().map(|(_, n)| n).sum();

    // The chart: one stacked bar a day, 40 units wide, 200 high.
    let mut per_day = vec![[0u64; 4]; DAYS as usize];
    for (at, severity, n) in &activity.over_time {
        let day = ((at.as_nanos() - first_day) / DAY) as usize;
        if let (Some(day), Some(s)) = (per_day.get_mut(day), SEVERITIES.iter().position(|s| s == severity)) {
            day[s] += n;
        }
    }
    let chart_max = per_day.iter().map(|d| d.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let mut bars = Vec::new();
    let mut days = Vec::new();
    for (at, counts) in per_day.iter().enumerate() {
        let x = 40 + at as i64 * 40;
        let date = format::time(Timestamp::from_nanos(first_day + at as i64 * DAY));
        days.push((x + 17, date.get(5..10).unwrap_or("").to_owned()));
        let mut top = 200;
        for (s, n) in counts.iter().enumerate().rev() {
            if *n == 0 {
                continue;
            }
            let height = ((*n as f64 / chart_max as f64) * 180.0).round().max(1.0) as i64;
            top -= height;
            let title = format!("{}: {n} {} alerts", date.get(..10).unwrap_or(""), SEVERITIES[s]);
            bars.push(Bar { x: x + 5, y: top, height, severity: SEVERITIES[s], title });
        }
    }

    let top_rules =
        activity.by_rule.iter().take(10).map(|(id, open, all)| (id.clone(), name_of(id), *open, *all)).collect();
    let mut failing: Vec<_> = last
        .values()
        .filter(|e| e.status == engine::storage::ExecutionStatus::Failed)
        .map(|e| (e.rule_id.clone(), name_of(&e.rule_id), e.warnings.join("; ")))
        .collect();
    failing.sort();
    let states = {
        let store = state.store.clone();
        state.blocking(move || store.rule_states()).await?
    };
    let mut backlog: Vec<_> = states
        .values()
        .filter(|s| s.backlog > 0)
        .map(|s| (s.rule_id.clone(), name_of(&s.rule_id), s.backlog))
        .collect();
    backlog.sort();
    let pulls = pulls::tenants(&state)
        .await?
        .tenants
        .into_iter()
        .flat_map(|t| {
            let up = t.up;
            let tenant = t.tenant.clone();
            t.content_types.into_iter().map(move |c| {
                let lag = c.lag_seconds.map_or_else(|| "never pulled".to_owned(), |s| duration(s as u64));
                (tenant.clone(), c.content_type, lag, up)
            })
        })
        .collect();
    html(&Overview {
        chrome: Chrome::new("overview", &signed),
        open,
        open_total,
        bars,
        days,
        chart_max,
        top_rules,
        failing,
        backlog,
        executions: activity.executions,
        truncated: activity.truncated,
        late: activity.late,
        uncovered: snapshot.uncovered,
        events: snapshot.events,
        rules_enabled: snapshot.rules,
        rules_not_loaded: pack.problems.len(),
        pulls,
    })
}

/// `3h 20m`, `45s`.
fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}
