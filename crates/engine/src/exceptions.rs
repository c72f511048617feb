//! Exception lists applied to a rule's candidates, as Kibana applies them: an event that any
//! item of any of the rule's lists matches is not a candidate (Kibana puts the items in the
//! search's `must_not`).
//!
//! Entries Elasticsearch answers with `match_phrase` and `exists` (`match`, `match_any`,
//! `exists`, `nested`, and an item's `os_types`) become one KQL query per item, typed by the
//! field catalog as the rule's own query is (keyword exact, text as a phrase, ip by CIDR,
//! numbers and dates by value); `wildcard` entries are Elasticsearch `wildcard` queries; `list`
//! entries look values up in their value list (a hash set, or sorted ranges for IP ranges).
//! vigil's case-insensitive entries are whole-value wildcard tests that ignore case.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use ecs::date::Timestamp;
use ecs::{Catalog, Path, Value};
use kql::Matcher;
use rules::exceptions::{
    Entry, EntryKind, ExceptionItem, ExceptionList, Exceptions, Operator, ValueList, ValueListType, list_refs,
};
use rules::{QueryFilter, Rule};

use crate::filters::WildcardFilter;

/// A rule's exception lists, compiled.
#[derive(Debug, Default)]
pub struct RuleExceptions<'c> {
    lists: Vec<CompiledList<'c>>,
    /// What could not be applied, for every execution's record: missing lists, missing value
    /// lists, items that do not compile. Each starts with [`RuleExceptions::WARNING`].
    pub warnings: Vec<String>,
    /// The fields the items read.
    pub(crate) fields: Vec<String>,
}

#[derive(Debug)]
struct CompiledList<'c> {
    list_id: String,
    items: Vec<CompiledItem<'c>>,
}

/// One item: all of its tests hold.
#[derive(Debug)]
struct CompiledItem<'c> {
    query: Option<Matcher<'c>>,
    tests: Vec<Test>,
}

#[derive(Debug)]
enum Test {
    /// Any of these wildcard tests matches a value (none does, when negated).
    Wildcards { any_of: Vec<WildcardFilter>, negate: bool },
    /// A value of the field is in the list (none is, when negated).
    List { path: Path, values: Arc<ValueSet>, negate: bool },
}

impl<'c> RuleExceptions<'c> {
    /// How every warning about exceptions starts.
    pub const WARNING: &'static str = "exception list";

    /// The lists of `exceptions` that apply to `rule` (its `exceptions_list` names them, or they
    /// name it), with the items that apply at `now`.
    pub fn compile(rule: &Rule, exceptions: &Exceptions, catalog: &'c Catalog, now: Timestamp) -> RuleExceptions<'c> {
        let mut compiled = RuleExceptions::default();
        let refs = list_refs(&rule.fields).unwrap_or_else(|why| {
            compiled.warnings.push(format!("exception list references: {why}"));
            Vec::new()
        });
        for reference in &refs {
            if exceptions.find(reference).is_none() {
                compiled
                    .warnings
                    .push(format!("exception list {reference} is missing: its exceptions are not applied"));
            }
        }
        let mut sets = HashMap::new();
        for list in exceptions.lists.iter().filter(|l| l.applies_to(&rule.id.0, &refs)) {
            let list = compile_list(list, exceptions, catalog, now, &mut sets, &mut compiled);
            compiled.lists.push(list);
        }
        compiled.fields.sort();
        compiled.fields.dedup();
        compiled
    }

    /// Whether the rule has lists to apply.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The position (among the rule's lists) of the first list with an item matching `event`.
    pub fn excluding(&self, event: &Value) -> Option<usize> {
        self.lists.iter().position(|list| list.items.iter().any(|item| item.matches(event)))
    }

    /// The `list_id` of the list at `at`.
    pub fn list_id(&self, at: usize) -> &str {
        self.lists.get(at).map_or("", |l| l.list_id.as_str())
    }
}

fn compile_list<'c>(
    list: &ExceptionList,
    exceptions: &Exceptions,
    catalog: &'c Catalog,
    now: Timestamp,
    sets: &mut HashMap<String, Arc<ValueSet>>,
    compiled: &mut RuleExceptions<'c>,
) -> CompiledList<'c> {
    let mut items = Vec::new();
    for item in list.items.iter().filter(|i| i.applies_at(now)) {
        match compile_item(item, exceptions, catalog, now, sets, &mut compiled.fields) {
            Ok(item) => items.push(item),
            Err(why) => {
                compiled.warnings.push(format!("exception list {}: item `{}` {why}", list.list_id, item.item_id))
            }
        }
    }
    CompiledList { list_id: list.list_id.clone(), items }
}

fn compile_item<'c>(
    item: &ExceptionItem,
    exceptions: &Exceptions,
    catalog: &'c Catalog,
    now: Timestamp,
    sets: &mut HashMap<String, Arc<ValueSet>>,
    fields: &mut Vec<String>,
) -> Result<CompiledItem<'c>, String> {
    let mut clauses = Vec::new();
    let mut tests = Vec::new();
    if !item.os_types.is_empty() {
        // Kibana's transform: the host's system is one of these, under either field.
        let systems: Vec<String> = item
            .os_types
            .iter()
            .flat_map(|os| {
                [format!("host.os.type:{}", kql::quote(os)), format!("host.os.name.caseless:{}", kql::quote(os))]
            })
            .collect();
        clauses.push(format!("({})", systems.join(" or ")));
    }
    for entry in &item.entries {
        fields.push(entry.field.clone());
        match &entry.kind {
            EntryKind::List { id, kind } => {
                let values = match sets.get(id) {
                    Some(values) => values.clone(),
                    None => {
                        let list = exceptions.value_list(id).ok_or_else(|| {
                            format!("refers to value list `{id}`, which is missing: the item is not applied")
                        })?;
                        if list.kind != *kind {
                            return Err(format!(
                                "refers to value list `{id}` as {}, but it is {}",
                                kind.as_str(),
                                list.kind.as_str()
                            ));
                        }
                        let values = Arc::new(ValueSet::new(list));
                        sets.insert(id.clone(), values.clone());
                        values
                    }
                };
                tests.push(Test::List {
                    path: Path::new(&entry.field),
                    values,
                    negate: entry.operator == Operator::Excluded,
                });
            }
            EntryKind::Wildcard { value, case_insensitive } => {
                tests.push(wildcards(&entry.field, [value.clone()], *case_insensitive, entry.operator));
            }
            EntryKind::Match { value, case_insensitive: true } => {
                tests.push(wildcards(&entry.field, [escape_wildcard(value)], true, entry.operator));
            }
            EntryKind::MatchAny { values, case_insensitive: true } => {
                tests.push(wildcards(&entry.field, values.iter().map(|v| escape_wildcard(v)), true, entry.operator));
            }
            _ => {
                if let EntryKind::Nested { entries } = &entry.kind {
                    fields.extend(entries.iter().map(|e| format!("{}.{}", entry.field, e.field)));
                }
                clauses.push(kql_clause(entry));
            }
        }
    }
    let query = if clauses.is_empty() {
        None
    } else {
        let text = clauses.join(" and ");
        let parsed = kql::parse(&text).map_err(|e| format!("does not compile: {e}"))?;
        Some(parsed.compile_at(catalog, now).map_err(|e| format!("does not compile: {e}"))?)
    };
    Ok(CompiledItem { query, tests })
}

fn wildcards(
    field: &str,
    patterns: impl IntoIterator<Item = String>,
    case_insensitive: bool,
    operator: Operator,
) -> Test {
    let filters: Vec<QueryFilter> = patterns
        .into_iter()
        .map(|pattern| QueryFilter::Wildcard { field: field.to_owned(), pattern, case_insensitive, negate: false })
        .collect();
    Test::Wildcards { any_of: WildcardFilter::of(&filters), negate: operator == Operator::Excluded }
}

/// A whole value as a wildcard pattern that matches only itself.
fn escape_wildcard(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The KQL of a `match`, `match_any`, `exists` or `nested` entry.
fn kql_clause(entry: &Entry) -> String {
    let field = kql::field_name(&entry.field);
    let positive = match &entry.kind {
        EntryKind::Match { value, .. } => format!("{field}:{}", kql::quote(value)),
        EntryKind::MatchAny { values, .. } => {
            format!("{field}:({})", values.iter().map(|v| kql::quote(v)).collect::<Vec<_>>().join(" or "))
        }
        EntryKind::Exists => format!("{field}:*"),
        EntryKind::Nested { entries } => {
            return format!("{field}:{{ {} }}", entries.iter().map(kql_clause).collect::<Vec<_>>().join(" and "));
        }
        EntryKind::Wildcard { .. } | EntryKind::List { .. } => unreachable!("tested outside KQL"),
    };
    match entry.operator {
        Operator::Included => positive,
        Operator::Excluded => format!("not {positive}"),
    }
}

impl CompiledItem<'_> {
    fn matches(&self, event: &Value) -> bool {
        self.query.as_ref().is_none_or(|q| q.matches_value(event)) && self.tests.iter().all(|t| t.holds(event))
    }
}

impl Test {
    fn holds(&self, event: &Value) -> bool {
        match self {
            Test::Wildcards { any_of, negate } => any_of.iter().any(|f| f.passes(event)) != *negate,
            Test::List { path, values, negate } => {
                let mut any = false;
                path.visit(event, &mut |value| {
                    any = values.contains(value);
                    any
                });
                any != *negate
            }
        }
    }
}

/// A value list made ready for lookups.
#[derive(Debug)]
pub(crate) enum ValueSet {
    /// Exact values (numbers and booleans compared as their text, as a keyword field indexes
    /// them).
    Keyword(HashSet<String>),
    /// Addresses, and networks as ranges.
    Ip { addresses: HashSet<IpAddr>, ranges: Ranges },
    /// Ranges, merged and sorted.
    IpRange(Ranges),
    /// Each value's words, indexed by its first word: a field matches a value when it holds all
    /// of the value's words (Elasticsearch's `match` with `operator: and`).
    Text(HashMap<String, Vec<Vec<String>>>),
}

/// IP ranges as sorted, merged intervals of 128-bit numbers (IPv4 mapped into IPv6).
#[derive(Debug, Default)]
pub(crate) struct Ranges(Vec<(u128, u128)>);

fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The first and last address of `text`: an address, a CIDR network or `first-last`.
fn range_of(text: &str) -> Option<(u128, u128)> {
    if let Some((first, last)) = text.split_once('-') {
        let (first, last) = (first.trim().parse::<IpAddr>().ok()?, last.trim().parse::<IpAddr>().ok()?);
        let (a, b) = (number(first), number(last));
        return Some((a.min(b), a.max(b)));
    }
    let (address, bits) = match text.split_once('/') {
        Some((address, bits)) => (address, Some(bits.parse::<u32>().ok()?)),
        None => (text, None),
    };
    let ip = address.trim().parse::<IpAddr>().ok()?;
    let (base, width) = (number(ip), if ip.is_ipv4() { 32 } else { 128 });
    let bits = bits.unwrap_or(width).min(width);
    // IPv4 sits in the low 32 bits of its mapped form.
    let host_bits = width - bits;
    let mask = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    Some((base & !mask, base | mask))
}

impl Ranges {
    fn new(mut ranges: Vec<(u128, u128)>) -> Ranges {
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        Ranges(merged)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let n = number(ip);
        let at = self.0.partition_point(|(start, _)| *start <= n);
        at > 0 && self.0[at - 1].1 >= n
    }
}

impl ValueSet {
    pub(crate) fn new(list: &ValueList) -> ValueSet {
        match list.kind {
            ValueListType::Keyword => ValueSet::Keyword(list.values.iter().cloned().collect()),
            ValueListType::Ip => {
                let (networks, addresses): (Vec<&String>, Vec<&String>) =
                    list.values.iter().partition(|v| v.contains('/'));
                ValueSet::Ip {
                    addresses: addresses.iter().filter_map(|v| v.parse().ok()).collect(),
                    ranges: Ranges::new(networks.iter().filter_map(|v| range_of(v)).collect()),
                }
            }
            ValueListType::IpRange => {
                ValueSet::IpRange(Ranges::new(list.values.iter().filter_map(|v| range_of(v)).collect()))
            }
            ValueListType::Text => {
                let mut by_first: HashMap<String, Vec<Vec<String>>> = HashMap::new();
                for value in &list.values {
                    let words = kql::analyze(value);
                    if let Some(first) = words.first() {
                        by_first.entry(first.clone()).or_default().push(words);
                    }
                }
                ValueSet::Text(by_first)
            }
        }
    }

    /// Whether one value of a field is in the set.
    pub(crate) fn contains(&self, value: &Value) -> bool {
        let text = match value {
            Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            Value::Number(n) => std::borrow::Cow::Owned(n.to_string()),
            Value::Bool(b) => std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
            _ => return false,
        };
        match self {
            ValueSet::Keyword(values) => values.contains(text.as_ref()),
            ValueSet::Ip { addresses, ranges } => {
                text.parse::<IpAddr>().is_ok_and(|ip| addresses.contains(&ip) || ranges.contains(ip))
            }
            ValueSet::IpRange(ranges) => text.parse::<IpAddr>().is_ok_and(|ip| ranges.contains(ip)),
            ValueSet::Text(by_first) => {
                let words = kql::analyze(&text);
                let present: HashSet<&str> = words.iter().map(String::as_str).collect();
                words
                    .iter()
                    .filter_map(|w| by_first.get(w))
                    .flatten()
                    .any(|value| value.iter().all(|w| present.contains(w.as_str())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::exceptions::{ExceptionItem, NamespaceType};
    use serde_json::json;

    fn entry(field: &str, operator: Operator, kind: EntryKind) -> Entry {
        Entry { field: field.into(), operator, kind }
    }

    fn item(entries: Vec<Entry>) -> ExceptionItem {
        ExceptionItem {
            id: None,
            item_id: "i".into(),
            name: String::new(),
            description: String::new(),
            entries,
            expire_time: None,
            comments: Vec::new(),
            os_types: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn lists(items: Vec<ExceptionItem>, value_lists: Vec<ValueList>) -> Exceptions {
        let list = ExceptionList {
            id: None,
            list_id: "l".into(),
            namespace_type: NamespaceType::Single,
            kind: "detection".into(),
            name: String::new(),
            description: String::new(),
            os_types: Vec::new(),
            tags: Vec::new(),
            items,
            rules: Vec::new(),
            origin: String::new(),
        };
        Exceptions { lists: vec![list], value_lists }
    }

    fn rule() -> Rule {
        rule_with(
            json!({"exceptions_list": [{"id": "l", "list_id": "l", "namespace_type": "single", "type": "detection"}]}),
        )
    }

    /// The built-in DKIM rule with `fields` as its own.
    fn rule_with(fields: Value) -> Rule {
        let mut rule = rules::builtin().rules.remove(0);
        rule.fields = fields;
        rule
    }

    /// Which of `events` the item removes.
    fn removed(entries: Vec<Entry>, value_lists: Vec<ValueList>, events: &[Value]) -> Vec<bool> {
        let exceptions = lists(vec![item(entries)], value_lists);
        let compiled = RuleExceptions::compile(&rule(), &exceptions, Catalog::builtin(), Timestamp::from_millis(0));
        assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
        events.iter().map(|e| compiled.excluding(e).is_some()).collect()
    }

    fn user(name: &str) -> Value {
        json!({"user": {"name": name}, "source": {"ip": "10.1.2.3"}})
    }

    #[test]
    fn match_and_match_any_follow_the_fields_type() {
        let events = [user("svc-dkim"), user("SVC-DKIM"), user("alice"), json!({"source": {"ip": "10.1.2.3"}})];
        let is =
            |op| vec![entry("user.name", op, EntryKind::Match { value: "svc-dkim".into(), case_insensitive: false })];
        assert_eq!(
            removed(is(Operator::Included), vec![], &events),
            [true, false, false, false],
            "keyword: exact, case-sensitive"
        );
        assert_eq!(
            removed(is(Operator::Excluded), vec![], &events),
            [false, true, true, true],
            "is not: missing fields too"
        );
        let any = vec![entry(
            "user.name",
            Operator::Included,
            EntryKind::MatchAny { values: vec!["alice".into(), "svc-dkim".into()], case_insensitive: false },
        )];
        assert_eq!(removed(any, vec![], &events), [true, false, true, false]);
        let cidr = vec![entry(
            "source.ip",
            Operator::Included,
            EntryKind::Match { value: "10.0.0.0/8".into(), case_insensitive: false },
        )];
        assert_eq!(removed(cidr, vec![], &events), [true, true, true, true], "ip: by network");
        let caseless = vec![entry(
            "user.name",
            Operator::Included,
            EntryKind::Match { value: "svc-DKIM".into(), case_insensitive: true },
        )];
        assert_eq!(removed(caseless, vec![], &events), [true, true, false, false], "vigil's case-insensitive option");
        let text = vec![entry(
            "message",
            Operator::Included,
            EntryKind::Match { value: "quick fox".into(), case_insensitive: false },
        )];
        let messages = [json!({"message": "The QUICK fox jumps"}), json!({"message": "fox quick"})];
        assert_eq!(removed(text, vec![], &messages), [true, false], "text: a phrase, analysed");
    }

    #[test]
    fn wildcard_exists_and_nested_entries() {
        let events = [user("svc-dkim"), user("svc_mail"), user("alice"), json!({})];
        let wild = |op| {
            vec![entry("user.name", op, EntryKind::Wildcard { value: "svc?dkim*".into(), case_insensitive: false })]
        };
        assert_eq!(removed(wild(Operator::Included), vec![], &events), [true, false, false, false]);
        assert_eq!(removed(wild(Operator::Excluded), vec![], &events), [false, true, true, true]);
        let exists = |op| vec![entry("user.name", op, EntryKind::Exists)];
        assert_eq!(removed(exists(Operator::Included), vec![], &events), [true, true, true, false]);
        assert_eq!(removed(exists(Operator::Excluded), vec![], &events), [false, false, false, true]);
        // Both entries of a nested one hold for one object of the array.
        let nested = vec![Entry {
            field: "o365.audit.Parameters".into(),
            operator: Operator::Included,
            kind: EntryKind::Nested {
                entries: vec![
                    entry(
                        "Name",
                        Operator::Included,
                        EntryKind::Match { value: "Enabled".into(), case_insensitive: false },
                    ),
                    entry(
                        "Value",
                        Operator::Included,
                        EntryKind::Match { value: "False".into(), case_insensitive: false },
                    ),
                ],
            },
        }];
        let params = |pairs: &[(&str, &str)]| json!({"o365": {"audit": {"Parameters": pairs.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>()}}});
        let docs = [params(&[("Enabled", "False")]), params(&[("Enabled", "True"), ("Identity", "False")])];
        assert_eq!(removed(nested, vec![], &docs), [true, false]);
    }

    #[test]
    fn list_entries_look_values_up() {
        let office =
            ValueList::from_lines("office", ValueListType::IpRange, "10.0.0.0/8\n192.168.1.10-192.168.1.20\n::1/128\n")
                .expect("a list");
        let events = [
            json!({"source": {"ip": "10.200.0.1"}}),
            json!({"source": {"ip": "192.168.1.15"}}),
            json!({"source": {"ip": "192.168.1.21"}}),
            json!({"source": {"ip": "::1"}}),
            json!({"user": {"name": "x"}}),
        ];
        let in_list =
            |op| vec![entry("source.ip", op, EntryKind::List { id: "office".into(), kind: ValueListType::IpRange })];
        assert_eq!(
            removed(in_list(Operator::Included), vec![office.clone()], &events),
            [true, true, false, true, false]
        );
        assert_eq!(removed(in_list(Operator::Excluded), vec![office], &events), [false, false, true, false, true]);
        let admins = ValueList::from_lines("admins", ValueListType::Keyword, "svc-dkim\nroot\n").expect("a list");
        let keyword = vec![entry(
            "user.name",
            Operator::Included,
            EntryKind::List { id: "admins".into(), kind: ValueListType::Keyword },
        )];
        assert_eq!(removed(keyword, vec![admins], &[user("root"), user("ROOT")]), [true, false]);
        let phrases = ValueList::from_lines("noise", ValueListType::Text, "health check\n").expect("a list");
        let text = vec![entry(
            "message",
            Operator::Included,
            EntryKind::List { id: "noise".into(), kind: ValueListType::Text },
        )];
        let messages = [json!({"message": "Check of HEALTH passed"}), json!({"message": "health probe"})];
        assert_eq!(removed(text, vec![phrases], &messages), [true, false], "text lists: all the words, any order");
    }

    #[test]
    fn a_large_ip_list_is_looked_up_by_range() {
        let values: String =
            (0..100_000u32).map(|n| format!("{}/32\n", std::net::Ipv4Addr::from(0x0a00_0000 + n * 2))).collect();
        let list = ValueList::from_lines("big", ValueListType::IpRange, &values).expect("a list");
        let set = ValueSet::new(&list);
        assert!(set.contains(&json!("10.0.0.4")) && !set.contains(&json!("10.0.0.5")));
        assert!(set.contains(&json!(std::net::Ipv4Addr::from(0x0a00_0000 + 199_998).to_string())));
    }

    #[test]
    fn missing_lists_and_value_lists_are_warned_about_and_expired_items_dropped() {
        let reference =
            rule_with(json!({"exceptions_list": [{"id": "gone", "list_id": "gone", "namespace_type": "agnostic"}]}));
        let compiled =
            RuleExceptions::compile(&reference, &Exceptions::default(), Catalog::builtin(), Timestamp::from_millis(0));
        assert_eq!(compiled.warnings, ["exception list gone (agnostic) is missing: its exceptions are not applied"]);
        let missing = vec![entry(
            "source.ip",
            Operator::Included,
            EntryKind::List { id: "nope".into(), kind: ValueListType::Ip },
        )];
        let compiled = RuleExceptions::compile(
            &rule(),
            &lists(vec![item(missing)], vec![]),
            Catalog::builtin(),
            Timestamp::from_millis(0),
        );
        assert!(compiled.warnings[0].contains("value list `nope`, which is missing"), "{:?}", compiled.warnings);
        let mut expired = item(vec![entry("user.name", Operator::Included, EntryKind::Exists)]);
        expired.expire_time = Some(Timestamp::from_millis(1000));
        let exceptions = lists(vec![expired], vec![]);
        let before = RuleExceptions::compile(&rule(), &exceptions, Catalog::builtin(), Timestamp::from_millis(0));
        let after = RuleExceptions::compile(&rule(), &exceptions, Catalog::builtin(), Timestamp::from_millis(2000));
        assert_eq!((before.excluding(&user("a")), after.excluding(&user("a"))), (Some(0), None));
    }

    #[test]
    fn os_types_limit_an_item_to_hosts_of_those_systems() {
        let mut windows = item(vec![entry("user.name", Operator::Included, EntryKind::Exists)]);
        windows.os_types = vec!["windows".into()];
        let exceptions = lists(vec![windows], vec![]);
        let compiled = RuleExceptions::compile(&rule(), &exceptions, Catalog::builtin(), Timestamp::from_millis(0));
        let on = |os: &str| json!({"user": {"name": "a"}, "host": {"os": {"type": os}}});
        assert_eq!(
            (compiled.excluding(&on("windows")).is_some(), compiled.excluding(&on("linux")).is_some()),
            (true, false)
        );
    }

    #[test]
    fn a_list_may_name_the_rules_it_applies_to() {
        let mut exceptions = lists(vec![item(vec![entry("user.name", Operator::Included, EntryKind::Exists)])], vec![]);
        let dkim = rule_with(json!({}));
        let none = RuleExceptions::compile(&dkim, &exceptions, Catalog::builtin(), Timestamp::from_millis(0));
        assert!(none.is_empty() && none.warnings.is_empty());
        exceptions.lists[0].rules = vec![dkim.id.0.clone()];
        let named = RuleExceptions::compile(&dkim, &exceptions, Catalog::builtin(), Timestamp::from_millis(0));
        assert_eq!(named.excluding(&user("a")), Some(0));
    }
}
