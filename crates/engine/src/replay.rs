//! Replay: which alerts Elastic would have created, execution by execution, from a scan's hits.
//!
//! Each rule runs every `interval`, at whole multiples of the interval since the epoch. An
//! execution started at `t` searches `[from, to]` resolved at `t` (`now-30m` .. `now`) on the
//! rule's time field, takes at most `max_signals` of the events not yet alerted, oldest first,
//! and records the rest as truncated; an event may still alert in a later, overlapping execution.
//! A rule with `alert_suppression` makes one alert per group of an execution's candidates (and,
//! with a duration, adds later executions' events of the group to it while it is younger than
//! the duration); `max_signals` counts alerts, not the events they stand for.

use std::collections::{HashMap, HashSet};

use ecs::Value;
use ecs::date::Timestamp;

use crate::alert::AlertId;
use crate::ruleset::RuleSet;
use crate::scan::{Hit, Position, Sink};
use crate::suppression::{Group, Suppression};

/// A hit kept for replay.
#[derive(Debug)]
struct Kept {
    rule: usize,
    time: Option<Timestamp>,
    alert_id: AlertId,
    event: Value,
    index: Option<String>,
    event_id: String,
    source: String,
    line: u64,
}

/// A [`Sink`] that keeps every hit for [`Replay::run`] (memory grows with hits, not events).
#[derive(Debug, Default)]
pub struct Replay {
    kept: Vec<Kept>,
    rule_ids: HashMap<String, usize>,
}

impl Replay {
    /// A replay of the rules in `rules`.
    pub fn new(rules: &RuleSet<'_>) -> Replay {
        let rule_ids = rules.rules().iter().enumerate().map(|(i, r)| (r.rule.id.0.clone(), i)).collect();
        Replay { kept: Vec::new(), rule_ids }
    }
}

impl Sink for Replay {
    type Error = std::convert::Infallible;

    fn hit(&mut self, hit: &Hit<'_>) -> Result<bool, Self::Error> {
        let Some(&rule) = self.rule_ids.get(&hit.rule.id.0) else { return Ok(true) };
        self.kept.push(Kept {
            rule,
            time: hit.time(),
            alert_id: hit.alert_id,
            event: hit.event.clone(),
            index: hit.index.map(str::to_owned),
            event_id: hit.event_id.to_owned(),
            source: hit.position.source.to_owned(),
            line: hit.position.line,
        });
        Ok(true)
    }
}

/// One execution that had more candidates than `max_signals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// When the execution started.
    pub started: Timestamp,
    /// How many candidates it did not alert on.
    pub dropped: usize,
}

/// What replay found for one rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleReplay {
    /// Executions that found at least one candidate.
    pub executions: usize,
    /// Alerts created.
    pub alerts: usize,
    /// Executions that hit `max_signals`.
    pub truncations: Vec<Truncation>,
    /// Matching events never alerted: truncated and not covered by a later execution.
    pub missed: usize,
    /// Matching events without a time on the rule's time field (no execution sees them).
    pub untimed: usize,
}

/// The result of a replay.
#[derive(Debug)]
pub struct ReplayReport {
    /// Per rule, in the rule set's order.
    pub rules: Vec<RuleReplay>,
    /// The alerts, by execution start, then event time: (rule index, execution start, kept hit).
    alerts: Vec<(usize, Timestamp, usize)>,
    /// The suppression fields of each alert that stands for a group (by its place in `alerts`
    /// before sorting, keyed by its kept hit).
    suppression: HashMap<usize, Vec<(String, Value)>>,
    kept: Vec<Kept>,
}

impl ReplayReport {
    /// Calls `each` with every alert, in order: the start of the execution that created it, and
    /// the hit. `each` returns `false` to stop.
    ///
    /// # Errors
    ///
    /// What `each` returns.
    pub fn for_each_alert<E>(
        &self,
        rules: &RuleSet<'_>,
        mut each: impl FnMut(Timestamp, &Hit<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        for &(rule, started, at) in &self.alerts {
            let kept = &self.kept[at];
            let hit = Hit {
                rule: &rules.rules()[rule].rule,
                event: &kept.event,
                index: kept.index.as_deref(),
                event_id: &kept.event_id,
                alert_id: kept.alert_id,
                position: Position { source: &kept.source, line: kept.line },
                suppression: self.suppression.get(&at).map_or(&[], Vec::as_slice),
            };
            if !each(started, &hit)? {
                break;
            }
        }
        Ok(())
    }

    /// How many alerts the replay created.
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }
}

impl Replay {
    /// Simulates every rule's schedule over the kept hits.
    pub fn run(self, rules: &RuleSet<'_>) -> ReplayReport {
        let mut report = vec![RuleReplay::default(); rules.len()];
        let mut by_rule: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
        for (at, kept) in self.kept.iter().enumerate() {
            match kept.time {
                Some(_) => by_rule[kept.rule].push(at),
                None => report[kept.rule].untimed += 1,
            }
        }
        let mut alerts = Vec::new();
        let mut groups_of = HashMap::new();
        for (rule_index, mut pending) in by_rule.into_iter().enumerate() {
            let rule = &rules.rules()[rule_index].rule;
            let suppression = Suppression::of(rule);
            // Per group: the kept hit that alerted, when (its execution), and what it stands for.
            let mut groups: HashMap<String, Grouped> = HashMap::new();
            pending.sort_by_key(|&at| (self.kept[at].time, at));
            let interval = i64::try_from(rule.interval.as_seconds()).unwrap_or(i64::MAX).saturating_mul(1_000_000_000);
            let window =
                |start: Timestamp| Some((rule.from.1.resolve(start, false)?, rule.to.1.resolve(start, false)?));
            let mut alerted: HashSet<AlertId> = HashSet::new();
            let stats = &mut report[rule_index];
            let mut next = 0; // first pending hit not yet decided
            let mut last_run: Option<i64> = None; // executions run so far are numbered up to this
            while next < pending.len() {
                let t = self.kept[pending[next]].time.expect("timed hits only").as_nanos();
                // The first execution whose window can reach `t`: offsets measured at `t`.
                let Some((from, to)) = window(Timestamp::from_nanos(t)) else { break };
                let (lookback, lead) = (t - from.as_nanos(), t - to.as_nanos());
                let mut n = (t + lead).div_euclid(interval) + i64::from((t + lead).rem_euclid(interval) != 0);
                // An execution runs once: a hit it truncated can only alert in a later one.
                if let Some(last) = last_run {
                    n = n.max(last + 1);
                }
                let mut missed_here = true;
                while n.saturating_mul(interval) - lookback <= t {
                    let started = Timestamp::from_nanos(n.saturating_mul(interval));
                    let Some((from, to)) = window(started) else { break };
                    last_run = Some(n);
                    let candidates: Vec<usize> = pending[next..]
                        .iter()
                        .copied()
                        .take_while(|&at| self.kept[at].time.is_some_and(|time| time <= to))
                        .filter(|&at| {
                            self.kept[at].time.is_some_and(|time| time >= from)
                                && !alerted.contains(&self.kept[at].alert_id)
                        })
                        .collect();
                    if !candidates.is_empty() {
                        stats.executions += 1;
                        let max = rule.max_signals as usize;
                        let (mut made, mut dropped) = (0, 0);
                        for &at in &candidates {
                            let kept = &self.kept[at];
                            let group = suppression.as_ref().and_then(|s| s.group(rule, &kept.event));
                            if let Some(group) = &group
                                && let Some(grouped) = groups.get_mut(&group.key)
                                && suppression.as_ref().is_some_and(|s| grouped.takes(started, s))
                            {
                                // Suppressed into the group's alert.
                                alerted.insert(kept.alert_id);
                                grouped.add(kept.time);
                                continue;
                            }
                            if made == max {
                                dropped += 1;
                                continue;
                            }
                            if alerted.insert(kept.alert_id) {
                                alerts.push((rule_index, started, at));
                                stats.alerts += 1;
                                made += 1;
                                if let Some(group) = group {
                                    let grouped =
                                        Grouped { at, group, started, start: kept.time, end: kept.time, others: 0 };
                                    // The group's earlier alert is done: its fields are final.
                                    if let Some(done) = groups.insert(grouped.group.key.clone(), grouped) {
                                        groups_of.insert(done.at, done.fields());
                                    }
                                }
                            }
                        }
                        if dropped > 0 {
                            stats.truncations.push(Truncation { started, dropped });
                        }
                    }
                    if alerted.contains(&self.kept[pending[next]].alert_id) {
                        missed_here = false;
                        break;
                    }
                    n += 1;
                }
                if missed_here && !alerted.contains(&self.kept[pending[next]].alert_id) {
                    stats.missed += 1;
                }
                while next < pending.len() && alerted.contains(&self.kept[pending[next]].alert_id) {
                    next += 1;
                }
                if missed_here {
                    next += 1;
                }
            }
            for grouped in groups.into_values() {
                groups_of.insert(grouped.at, grouped.fields());
            }
        }
        alerts.sort_by_key(|&(rule, started, at)| (started, self.kept[at].time, rule, at));
        ReplayReport { rules: report, alerts, suppression: groups_of, kept: self.kept }
    }
}

/// A group's alert in a replay.
struct Grouped {
    /// Its kept hit.
    at: usize,
    group: Group,
    /// The execution that made it.
    started: Timestamp,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    /// Events it stands for besides its own.
    others: u64,
}

impl Grouped {
    /// Whether an execution started at `started` adds its events of the group to this alert:
    /// the same execution always, a later one while the alert is younger than the duration.
    fn takes(&self, started: Timestamp, suppression: &Suppression) -> bool {
        started == self.started
            || suppression.duration.is_some_and(|d| started.as_nanos() - self.started.as_nanos() < d)
    }

    fn add(&mut self, time: Option<Timestamp>) {
        self.others += 1;
        self.start = match (self.start, time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.end = self.end.max(time);
    }

    fn fields(&self) -> Vec<(String, Value)> {
        crate::suppression::fields(&self.group, self.start, self.end, self.others)
    }
}
