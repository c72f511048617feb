//! The compiled matcher: judges documents as Elasticsearch would with the catalog's mappings.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

use ecs::date::Timestamp;
use ecs::{Catalog, Document, FieldType, Path, Value};

use crate::ast::{Expr, ExprKind, Query, RangeOp, Term, ValueExpr, ValueExprKind, Wildcard};
use crate::text;

/// A compiled query: field types resolved, values parsed, ready to test documents.
///
/// Build one with [`Query::compile`](crate::Query::compile); it borrows the catalog it was
/// compiled with (free text and wildcard field names look field types up per document).
#[derive(Clone, Debug)]
pub struct Matcher<'c> {
    pub(crate) root: Node,
    /// The query compiled, which names the clauses in explanations.
    pub(crate) query: Query,
    pub(crate) catalog: &'c Catalog,
}

/// A node of the compiled tree. Its shape follows the query's: boolean nodes for `and`, `or`
/// and `not` (of clauses or of values), and a leaf (or `Or` of leaves, for a wildcard field
/// name) for each value.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// Matches every document (the empty query, `*:*`).
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// One object at `path` satisfies `inner`, whose paths are relative to it.
    Nested {
        path: Path,
        inner: Box<Node>,
    },
    /// Some value at `path` passes `test`.
    Values {
        path: Path,
        test: Test,
    },
    /// Some leaf whose path matches `pattern` and is not in `known` passes `test` (the fields a
    /// wildcard field name reaches through dynamic mapping).
    Leaves {
        pattern: Wildcard,
        known: Vec<String>,
        test: Test,
    },
    /// Some leaf, typed by the catalog, matches the term (free text over every field).
    FreeText {
        prefix: String,
        terms: Box<FreeText>,
    },
}

/// The tests free text runs, one per kind of field it meets.
#[derive(Clone, Debug)]
pub(crate) struct FreeText {
    pub(crate) keyword: Test,
    pub(crate) text: Test,
    pub(crate) dynamic: Test,
    pub(crate) boolean: Test,
    pub(crate) integer: Test,
    pub(crate) long: Test,
    pub(crate) float: Test,
    pub(crate) ip: Test,
    pub(crate) date: Test,
}

/// One alternative of a `query_string` wildcard term.
#[derive(Clone, Debug)]
pub(crate) enum Alt {
    Exact(String),
    Pattern(Wildcard),
}

/// A test of one value, for one field type.
#[derive(Clone, Debug)]
pub(crate) enum Test {
    /// Never passes (a value the field's type cannot hold, with lenient free text).
    Never,
    /// Passes for any value the field's type (`None`: unmapped) indexes: a malformed value
    /// (`"x"` in an ip field) is not indexed, so it does not exist.
    Exists {
        ignore_above: Option<u32>,
        ty: Option<FieldType>,
    },
    /// keyword: the whole value, exactly.
    Keyword {
        value: String,
        ignore_above: Option<u32>,
    },
    /// keyword with a wildcard: any alternative matches the whole value.
    KeywordAlts {
        alts: Vec<Alt>,
        ignore_above: Option<u32>,
    },
    /// text: any token (`phrase`: all tokens, consecutively).
    Text {
        tokens: Vec<String>,
        phrase: bool,
    },
    /// text with a wildcard: any alternative matches a token (patterns are lower-cased).
    TextAlts {
        alts: Vec<Alt>,
    },
    Bool(bool),
    /// A whole number (an integer field), or `None` for a value with a fraction (matches nothing);
    /// `long` fields do not trim strings.
    Integer {
        want: Option<i128>,
        long: bool,
    },
    Float(f64),
    /// A date field equal to a date: the instant lies in `[from, to]`.
    DateSpan {
        from: Timestamp,
        to: Timestamp,
        nanos: bool,
    },
    Ip {
        net: u128,
        prefix: u8,
    },
    Range {
        op: RangeOp,
        bound: Bound,
    },
    /// The root of a `flattened` field: an object value passes when one of its leaves (keywords)
    /// passes, as Elasticsearch indexes every leaf value under the root.
    Leaves(Box<Test>),
    /// A field the catalog does not type: the JSON value's kind decides, as dynamic mapping does.
    Dynamic {
        text: String,
        number: Option<f64>,
        boolean: Option<bool>,
        alts: Option<Vec<Alt>>,
    },
}

/// The bound of a range test, typed by the field.
#[derive(Clone, Debug)]
pub(crate) enum Bound {
    Keyword(String),
    Text(String),
    /// A number; `long` fields read strings without trimming them.
    Number {
        at: f64,
        long: bool,
    },
    Date {
        at: Timestamp,
        nanos: bool,
    },
    Ip(u128),
    Bool(bool),
    Dynamic {
        text: String,
        number: Option<f64>,
    },
}

/// Logs data streams map dynamic strings as keyword with `ignore_above: 1024`.
pub(crate) const DYNAMIC_IGNORE_ABOVE: Option<u32> = Some(1024);

/// Why a document matched or not: one node per clause of the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The clause, printed canonically.
    pub clause: String,
    /// Whether it held for the document.
    pub held: bool,
    /// Why, in a sentence.
    pub reason: String,
    /// The clauses it is made of.
    pub children: Vec<Explanation>,
}

impl Matcher<'_> {
    /// Whether the document matches the query.
    pub fn matches(&self, doc: &Document) -> bool {
        self.root.eval(doc.root(), self.catalog)
    }

    /// Whether a JSON value (a document root) matches the query.
    pub fn matches_value(&self, root: &Value) -> bool {
        self.root.eval(root, self.catalog)
    }

    /// Which clauses held or failed for the document, and why.
    pub fn explain(&self, doc: &Document) -> Explanation {
        let explainer = Explainer { catalog: self.catalog };
        match self.query.root() {
            Some(expr) => explainer.expr(expr, &self.root, doc.root()),
            None => Explanation {
                clause: String::new(),
                held: true,
                reason: "the empty query matches every document".into(),
                children: vec![],
            },
        }
    }
}

impl Node {
    fn eval(&self, root: &Value, catalog: &Catalog) -> bool {
        match self {
            Node::All => true,
            Node::And(items) => items.iter().all(|n| n.eval(root, catalog)),
            Node::Or(items) => items.iter().any(|n| n.eval(root, catalog)),
            Node::Not(inner) => !inner.eval(root, catalog),
            Node::Nested { path, inner } => {
                path.visit(root, &mut |v| matches!(v, Value::Object(_)) && inner.eval(v, catalog))
            }
            Node::Values { path, test } => path.visit(root, &mut |v| test.passes(v)),
            Node::Leaves { pattern, known, test } => ecs::walk_leaves(root, &mut |path, v| {
                pattern.matches(path) && !known.iter().any(|k| k == path) && test.passes(v)
            }),
            Node::FreeText { prefix, terms } => free_text(root, prefix, terms, catalog),
        }
    }
}

/// Walks the query's syntax tree and its compiled tree together, naming each clause as written.
struct Explainer<'c> {
    catalog: &'c Catalog,
}

impl Explainer<'_> {
    fn expr(&self, expr: &Expr, node: &Node, root: &Value) -> Explanation {
        let clause = expr.to_string();
        match (&expr.kind, node) {
            (ExprKind::Or(exprs), Node::Or(nodes)) | (ExprKind::And(exprs), Node::And(nodes)) => {
                let children = exprs.iter().zip(nodes).map(|(e, n)| self.expr(e, n, root)).collect();
                Explanation::boolean(clause, matches!(node, Node::And(_)), children)
            }
            (ExprKind::Not(inner), Node::Not(node)) => Explanation::negation(clause, self.expr(inner, node, root)),
            (ExprKind::Nested { query, .. }, Node::Nested { path, inner }) => {
                let mut objects = Vec::new();
                path.visit(root, &mut |v| {
                    if matches!(v, Value::Object(_)) {
                        objects.push(v);
                    }
                    false
                });
                let path = path.as_str();
                match objects.iter().position(|o| inner.eval(o, self.catalog)) {
                    Some(at) => Explanation {
                        clause,
                        held: true,
                        reason: format!("object {} of {} at `{path}` satisfies the inner query", at + 1, objects.len()),
                        children: vec![self.expr(query, inner, objects[at])],
                    },
                    None if objects.is_empty() => Explanation::leaf(clause, false, format!("`{path}` holds no object")),
                    None => Explanation::leaf(
                        clause,
                        false,
                        format!("none of the {} objects at `{path}` satisfies the inner query", objects.len()),
                    ),
                }
            }
            (ExprKind::Match { field: Some(field), value }, _) => self.values(field, value, node, root),
            _ => self.leaf(clause, node, root),
        }
    }

    fn values(&self, field: &Term, value: &ValueExpr, node: &Node, root: &Value) -> Explanation {
        let clause = crate::print::field_values(field, value).to_string();
        match (&value.kind, node) {
            (ValueExprKind::Or(values), Node::Or(nodes)) | (ValueExprKind::And(values), Node::And(nodes)) => {
                let children = values.iter().zip(nodes).map(|(v, n)| self.values(field, v, n, root)).collect();
                Explanation::boolean(clause, matches!(node, Node::And(_)), children)
            }
            (ValueExprKind::Not(inner), Node::Not(node)) => {
                Explanation::negation(clause, self.values(field, inner, node, root))
            }
            _ => self.leaf(clause, node, root),
        }
    }

    /// A clause that tests values: what the document holds, and what the test wants.
    fn leaf(&self, clause: String, node: &Node, root: &Value) -> Explanation {
        match node {
            Node::All => Explanation::leaf(clause, true, "matches every document".into()),
            Node::Values { path, test } => {
                let mut values = Vec::new();
                path.visit(root, &mut |v| {
                    if !v.is_null() {
                        values.push(v);
                    }
                    false
                });
                let held = values.iter().any(|v| test.passes(v));
                let shown: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                Explanation::values(clause, path.as_str(), &shown, held, &test.describe())
            }
            // A wildcard field name: the fields it reached that matched, if any.
            Node::Or(fields) => match fields.iter().find(|n| n.eval(root, self.catalog)) {
                Some(field) => {
                    let mut found = self.leaf(clause, field, root);
                    found.reason = format!("of the fields the name stands for, {}", found.reason);
                    found
                }
                None => Explanation::leaf(
                    clause,
                    false,
                    format!("none of the {} fields the name stands for matches", fields.len()),
                ),
            },
            other => {
                let held = other.eval(root, self.catalog);
                Explanation::leaf(clause, held, if held { "some field matches" } else { "no field matches" }.into())
            }
        }
    }
}

impl Explanation {
    /// A clause without parts, `held` or not for `reason`.
    pub fn leaf(clause: String, held: bool, reason: String) -> Explanation {
        Explanation { clause, held, reason, children: vec![] }
    }

    /// A test of a field's values: they are `shown` (as JSON; the first five, each shortened),
    /// and one passes the test `describe`d or none does; or the field is missing.
    pub fn values(clause: String, path: &str, shown: &[String], held: bool, describe: &str) -> Explanation {
        let reason = if shown.is_empty() {
            format!("`{path}` is missing")
        } else {
            let short = |text: &String| {
                if text.chars().count() > 80 {
                    format!("{}…", text.chars().take(80).collect::<String>())
                } else {
                    text.clone()
                }
            };
            let listed: Vec<String> = shown.iter().take(5).map(short).collect();
            let more = if shown.len() > 5 { format!(" and {} more", shown.len() - 5) } else { String::new() };
            let verb = if held { "passes" } else { "fails" };
            format!("`{path}` is {}{more}: {verb} {describe}", listed.join(", "))
        };
        Explanation::leaf(clause, held, reason)
    }

    /// An `and` (`is_and`) or an `or` of `children`.
    pub fn boolean(clause: String, is_and: bool, children: Vec<Explanation>) -> Explanation {
        let held_count = children.iter().filter(|c| c.held).count();
        let held = if is_and { held_count == children.len() } else { held_count > 0 };
        let reason = match (is_and, held) {
            (true, true) => "every clause held".to_owned(),
            (true, false) => format!("{} of {} clauses failed", children.len() - held_count, children.len()),
            (false, true) => format!("{held_count} of {} clauses held", children.len()),
            (false, false) => "no clause held".to_owned(),
        };
        Explanation { clause, held, reason, children }
    }

    /// A `not` of `child`.
    pub fn negation(clause: String, child: Explanation) -> Explanation {
        let reason = if child.held { "the negated clause held" } else { "the negated clause failed" };
        Explanation { clause, held: !child.held, reason: reason.into(), children: vec![child] }
    }
}

fn free_text(root: &Value, prefix: &str, terms: &FreeText, catalog: &Catalog) -> bool {
    let mut full = String::new();
    ecs::walk_leaves(root, &mut |path, value| {
        let name = if prefix.is_empty() {
            path
        } else {
            full.clear();
            full.push_str(prefix);
            full.push_str(path);
            &full
        };
        let test = match catalog.type_of(name).map(|(ty, _)| ty) {
            None => &terms.dynamic,
            Some(ty) if ty.is_keyword() => &terms.keyword,
            Some(ty) if ty.is_text() => &terms.text,
            Some(FieldType::Boolean) => &terms.boolean,
            Some(FieldType::Integer) => &terms.integer,
            Some(FieldType::Long) => &terms.long,
            Some(FieldType::Float) => &terms.float,
            Some(FieldType::Ip) => &terms.ip,
            Some(FieldType::Date | FieldType::DateNanos) => &terms.date,
            Some(_) => &Test::Never,
        };
        test.passes(value) || catalog.multi_fields(name).iter().any(|f| f.ty().is_text() && terms.text.passes(value))
    })
}

/// The string a keyword field indexes for a JSON value.
fn keyword_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn within(text: &str, ignore_above: Option<u32>) -> bool {
    ignore_above.is_none_or(|limit| text.chars().count() <= limit as usize)
}

/// A JSON value as a number, as numeric fields coerce it (numbers and numeric strings).
pub(crate) fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s),
        _ => None,
    }
}

/// A number as Elasticsearch parses one from query text (`1`, `-1.5`, `1e3`).
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if valid { text.parse().ok().filter(|n: &f64| n.is_finite()) } else { None }
}

/// A whole number exactly, when `n` has no fraction.
pub(crate) fn whole(n: f64) -> Option<i128> {
    (n.fract() == 0.0 && n.abs() < 1e38).then_some(n as i128)
}

/// A JSON value as an integer field stores it (fractions truncated, as `coerce` does). `long`
/// fields take strings as they are: Elasticsearch parses `integer`, `short` and `byte` strings
/// through a parser that trims them, and `long` strings through one that does not, so `" 1"` is
/// malformed in a `long` field.
fn integer_of(value: &Value, long: bool) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| n.as_f64().map(|f| f.trunc() as i128)),
        Value::String(s) if long && s.trim() != s => None,
        Value::String(s) => s.trim().parse::<i128>().ok().or_else(|| parse_number(s).map(|f| f.trunc() as i128)),
        _ => None,
    }
}

/// Whether a field of type `ty` indexes `value` (a leaf: not an object or array), so that
/// `field:*` finds it: keywords up to `ignore_above`, and values the type can parse.
fn indexes(ty: FieldType, value: &Value, ignore_above: Option<u32>) -> bool {
    match ty {
        FieldType::Long | FieldType::Integer => integer_of(value, ty == FieldType::Long).is_some(),
        FieldType::Float => number_of(value).is_some(),
        FieldType::Boolean => bool_of(value).is_some(),
        FieldType::Date => date_of(value, false).is_some(),
        FieldType::DateNanos => date_of(value, true).is_some(),
        FieldType::Ip => ip_of(value).is_some(),
        _ => keyword_text(value).is_some_and(|text| within(&text, ignore_above)),
    }
}

fn bool_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        // Elasticsearch reads an empty string as false in boolean fields.
        Value::String(s) if s == "false" || s.is_empty() => Some(false),
        _ => None,
    }
}

/// An IP address as a 128-bit number, IPv4 mapped into IPv6 as Elasticsearch stores it.
pub(crate) fn ip_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub(crate) fn parse_ip(text: &str) -> Option<u128> {
    text.trim().parse::<IpAddr>().ok().map(ip_bits)
}

/// An `ip` field's value: Elasticsearch does not trim it, so `"172.16.0.1 "` is malformed.
fn ip_of(value: &Value) -> Option<u128> {
    value.as_str().and_then(|s| s.parse::<IpAddr>().ok()).map(ip_bits)
}

fn date_of(value: &Value, nanos: bool) -> Option<Timestamp> {
    let t = match value {
        Value::String(s) => Timestamp::parse(s, false)?,
        Value::Number(n) => Timestamp::from_millis(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?),
        _ => return None,
    };
    Some(if nanos { t } else { t.truncate_to_millis() })
}

fn in_range<T: PartialOrd>(value: T, op: RangeOp, bound: T) -> bool {
    match op {
        RangeOp::Lt => value < bound,
        RangeOp::Lte => value <= bound,
        RangeOp::Gt => value > bound,
        RangeOp::Gte => value >= bound,
    }
}

fn alt_matches(alts: &[Alt], text: &str) -> bool {
    alts.iter().any(|alt| match alt {
        Alt::Exact(s) => s == text,
        Alt::Pattern(p) => p.matches(text),
    })
}

impl Test {
    /// Whether one value (arrays already flattened) passes.
    pub(crate) fn passes(&self, value: &Value) -> bool {
        if value.is_null() {
            return false;
        }
        match self {
            Test::Never => false,
            Test::Leaves(inner) => match value {
                Value::Object(map) => map.values().any(|v| self.passes(v)),
                Value::Array(items) => items.iter().any(|v| self.passes(v)),
                leaf => inner.passes(leaf),
            },
            Test::Exists { ignore_above, ty } => match (value, ty) {
                (Value::Object(map), _) => map.values().any(|v| self.passes(v)),
                (Value::Array(items), _) => items.iter().any(|v| self.passes(v)),
                (value, Some(ty)) => indexes(*ty, value, *ignore_above),
                (Value::String(s), None) => within(s, *ignore_above),
                (_, None) => true,
            },
            Test::Keyword { value: want, ignore_above } => {
                keyword_text(value).is_some_and(|have| have == want.as_str() && within(&have, *ignore_above))
            }
            Test::KeywordAlts { alts, ignore_above } => {
                keyword_text(value).is_some_and(|have| within(&have, *ignore_above) && alt_matches(alts, &have))
            }
            Test::Text { tokens, phrase } => keyword_text(value).is_some_and(|have| {
                let have = text::tokens(&have);
                if *phrase { text::contains_phrase(&have, tokens) } else { tokens.iter().any(|t| have.contains(t)) }
            }),
            Test::TextAlts { alts } => {
                keyword_text(value).is_some_and(|have| text::tokens(&have).iter().any(|token| alt_matches(alts, token)))
            }
            Test::Bool(want) => bool_of(value) == Some(*want),
            Test::Integer { want, long } => want.is_some() && integer_of(value, *long) == *want,
            Test::Float(want) => number_of(value) == Some(*want),
            Test::DateSpan { from, to, nanos } => date_of(value, *nanos).is_some_and(|t| *from <= t && t <= *to),
            Test::Ip { net, prefix } => ip_of(value).is_some_and(|ip| in_network(ip, *net, *prefix)),
            Test::Range { op, bound } => range_passes(value, *op, bound),
            Test::Dynamic { text, number, boolean, alts } => match value {
                Value::String(s) => {
                    within(s, DYNAMIC_IGNORE_ABOVE) && alts.as_ref().map_or(s == text, |alts| alt_matches(alts, s))
                }
                // Dynamic mapping makes JSON integers `long` and JSON decimals `float`.
                Value::Number(n) if alts.is_none() => match (number, n.is_f64()) {
                    (Some(want), true) => n.as_f64().is_some_and(|have| have as f32 == *want as f32),
                    (Some(want), false) => whole(*want).is_some() && integer_of(value, true) == whole(*want),
                    (None, _) => false,
                },
                Value::Bool(b) if alts.is_none() => *boolean == Some(*b),
                _ => false,
            },
        }
    }

    /// What the test wants, for explanations.
    fn describe(&self) -> String {
        match self {
            Test::Never => "nothing can match (the value does not fit the field)".into(),
            Test::Leaves(inner) => format!("has a leaf that {} (flattened)", inner.describe()),
            Test::Exists { .. } => "has any value".into(),
            Test::Keyword { value, .. } => format!("equals {value:?} (keyword: exact, case-sensitive)"),
            Test::KeywordAlts { alts, .. } => format!("matches {} (keyword wildcard, case-sensitive)", alts_text(alts)),
            Test::Text { tokens, phrase: true } => {
                format!("contains the phrase {:?} (text, lower-cased)", tokens.join(" "))
            }
            Test::Text { tokens, .. } => format!("contains a word of {tokens:?} (text, lower-cased)"),
            Test::TextAlts { alts } => format!("has a word matching {} (text, lower-cased)", alts_text(alts)),
            Test::Bool(b) => format!("is {b} (boolean)"),
            Test::Integer { want: Some(n), .. } => format!("equals {n} (whole number)"),
            Test::Integer { want: None, .. } => "equals a fraction, which a whole-number field never holds".into(),
            Test::Float(n) => format!("equals {n} (number)"),
            Test::DateSpan { from, to, .. } => format!("lies between {from} and {to} (date)"),
            Test::Ip { net, prefix } => {
                let v6 = Ipv6Addr::from(*net);
                match v6.to_ipv4_mapped() {
                    Some(v4) if *prefix >= 96 => format!("lies in {v4}/{} (ip)", prefix - 96),
                    _ => format!("lies in {v6}/{prefix} (ip)"),
                }
            }
            Test::Range { op, bound } => format!("is {} {}", op.as_str(), bound.describe()),
            Test::Dynamic { text, .. } => {
                format!("equals {text:?} (unmapped field: strings exactly, numbers and booleans by value)")
            }
        }
    }
}

impl Bound {
    fn describe(&self) -> String {
        match self {
            Bound::Keyword(s) => format!("{s:?} (keyword, in byte order)"),
            Bound::Text(s) => format!("{s:?} (text: some word, in byte order)"),
            Bound::Number { at, .. } => format!("{at} (number)"),
            Bound::Date { at, .. } => format!("{at} (date)"),
            Bound::Ip(bits) => {
                let v6 = Ipv6Addr::from(*bits);
                let shown = v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string());
                format!("{shown} (ip)")
            }
            Bound::Bool(b) => format!("{b} (boolean)"),
            Bound::Dynamic { text, .. } => {
                format!("{text:?} (unmapped field: strings in byte order, numbers by value)")
            }
        }
    }
}

fn alts_text(alts: &[Alt]) -> String {
    let texts: Vec<String> = alts
        .iter()
        .map(|a| match a {
            Alt::Exact(s) => format!("{s:?}"),
            Alt::Pattern(p) => format!("{:?}", p.to_plain()),
        })
        .collect();
    texts.join(" or ")
}

fn in_network(ip: u128, net: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
    ip & mask == net & mask
}

fn range_passes(value: &Value, op: RangeOp, bound: &Bound) -> bool {
    match bound {
        Bound::Keyword(b) => keyword_text(value).is_some_and(|have| in_range(have.as_bytes(), op, b.as_bytes())),
        Bound::Text(b) => keyword_text(value)
            .is_some_and(|have| text::tokens(&have).iter().any(|t| in_range(t.as_bytes(), op, b.as_bytes()))),
        Bound::Number { at, long } => {
            let have = if *long { integer_of(value, true).map(|n| n as f64) } else { number_of(value) };
            have.is_some_and(|have| in_range(have, op, *at))
        }
        Bound::Date { at, nanos } => date_of(value, *nanos).is_some_and(|have| in_range(have, op, *at)),
        Bound::Ip(b) => ip_of(value).is_some_and(|have| in_range(have, op, *b)),
        Bound::Bool(b) => bool_of(value).is_some_and(|have| in_range(have, op, *b)),
        Bound::Dynamic { text, number } => match value {
            Value::String(s) => within(s, DYNAMIC_IGNORE_ABOVE) && in_range(s.as_bytes(), op, text.as_bytes()),
            Value::Number(n) => number.zip(n.as_f64()).is_some_and(|(b, have)| in_range(have, op, b)),
            // Dynamic mapping makes a JSON boolean a `boolean` field, which ranges compare as
            // false < true; a bound that is not a boolean fits no boolean.
            Value::Bool(have) => match text.as_str() {
                "true" => in_range(*have, op, true),
                "false" => in_range(*have, op, false),
                _ => false,
            },
            _ => false,
        },
    }
}
