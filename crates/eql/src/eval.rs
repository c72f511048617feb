//! Matching events: an [`EventFilter`] compiled against a field catalog into an [`EventMatcher`].
//!
//! Elasticsearch runs an EQL condition as a Query DSL query: a comparison of a field with
//! constants becomes a `term`, `terms`, `range`, `wildcard`, `prefix`, `regexp` or `exists`
//! query, `and`/`or`/`not` a `bool` query, and whatever else (a function of a field, arithmetic)
//! a Painless script. The two differ on missing fields, and this module keeps the difference:
//!
//! - A query leaf is true or false: a document without the field does not match `x == "a"`, so
//!   it matches `x != "a"` and `not x == "a"`; any value of a multi-valued field may match.
//! - A script is evaluated with `null` for missing fields; functions and comparisons of `null`
//!   give `null`, and a script that ends `null` does not match. `not` directly over a script is
//!   part of the script (`not startsWith(x, "a")` does not match a document without `x`); `not`
//!   over a `bool` query negates the query.
//! - `startsWith(field, "c")` is a `prefix` query, `endsWith`/`stringContains(field, "c")` a
//!   `wildcard` query (`*` and `?` in the constant stay wildcards, as in Elasticsearch), and
//!   `cidrMatch(field, ...)` a `terms` query: true or false, like the other query leaves.
//!
//! Field types come from the catalog: keyword-like fields compare strings (a number in the
//! document reads as its text; a value longer than `ignore_above` is not indexed), numeric fields
//! numbers, `ip` fields addresses (a CIDR constant matches its block), `boolean` fields booleans.
//! A field the catalog does not know is read as Elasticsearch's dynamic mapping would have
//! indexed it: strings as keywords, numbers as numbers.

mod explain;

use std::net::IpAddr;

use ecs::{Catalog, Document, FieldType, Path, Value};
use kql::Span;

use crate::ast::{Arith, Compare, EventFilter, Expr, ExprKind, MatchKind};
use crate::error::{Error, ErrorKind};

/// The most value combinations a script over multi-valued fields is evaluated with.
const MAX_COMBINATIONS: usize = 256;

/// An [`EventFilter`] ready to judge documents.
#[derive(Clone, Debug)]
pub struct EventMatcher {
    /// The filter as written (canonically), and its condition: what explanations show.
    text: String,
    expr: Expr,
    /// The category field and the category; `None` for `any`.
    category: Option<(Path, String)>,
    condition: Node,
    /// Every field it reads.
    fields: Vec<String>,
}

impl EventMatcher {
    /// Whether `doc` is an event of this filter's category that meets its condition.
    pub fn matches(&self, doc: &Document) -> bool {
        self.matches_value(doc.root())
    }

    /// [`EventMatcher::matches`] on a decoded JSON document.
    pub fn matches_value(&self, doc: &Value) -> bool {
        self.matches_category(doc) && self.condition.matches(doc)
    }

    /// Whether `doc` is of the filter's category (always, for `any`).
    fn matches_category(&self, doc: &Value) -> bool {
        let Some((field, category)) = &self.category else { return true };
        field.visit(doc, &mut |v| matches!(v, Value::String(s) if s == category))
    }

    /// The fields it reads (the category field among them): decoding those is enough to judge
    /// an event.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
}

impl EventFilter {
    /// Compiles this filter: field types from `catalog`, the category read from `category_field`
    /// (`event.category` unless a rule overrides it).
    ///
    /// # Errors
    ///
    /// What Elasticsearch refuses when it plans the query: a comparison of two fields, an unknown
    /// function or one given the wrong number of arguments, `~` on a function without a
    /// case-insensitive form, a pattern that is not a string, a regular expression that does
    /// not compile.
    pub fn compile(&self, catalog: &Catalog, category_field: &str) -> Result<EventMatcher, Error> {
        let compiler = Compiler { catalog };
        let mut fields = fields_of(&self.condition);
        if self.category.is_some() {
            fields.push(category_field.to_owned());
        }
        fields.sort();
        fields.dedup();
        Ok(EventMatcher {
            text: self.to_string(),
            expr: self.condition.clone(),
            category: self.category.clone().map(|c| (Path::new(category_field), c)),
            condition: compiler.condition(&self.condition)?,
            fields,
        })
    }
}

/// A compiled condition.
#[derive(Clone, Debug)]
enum Node {
    Const(bool),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    /// A query on one field: true when a value of the field passes.
    Leaf(Field, Test),
    /// A script: true only when it evaluates to `true`.
    Script(Script),
}

impl Node {
    fn matches(&self, doc: &Value) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(a, b) => a.matches(doc) && b.matches(doc),
            Node::Or(a, b) => a.matches(doc) || b.matches(doc),
            Node::Not(n) => !n.matches(doc),
            Node::Leaf(field, test) => field.values(doc).iter().any(|v| test.passes(field.kind, v)),
            Node::Script(script) => script.matches(doc),
        }
    }
}

/// How a field's values are read and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Keyword family and text (through its keyword sub-field): strings.
    Text,
    Number,
    Ip,
    Bool,
    /// Not in the catalog (or a date): as dynamic mapping would index the value.
    Dynamic,
}

#[derive(Clone, Debug)]
struct Field {
    path: Path,
    kind: Kind,
    ignore_above: Option<u32>,
}

impl Field {
    /// The field's indexed values in `doc`: `null`s, objects and keywords past `ignore_above`
    /// left out.
    fn values(&self, doc: &Value) -> Vec<Val> {
        let mut out = Vec::new();
        self.path.visit(doc, &mut |v| {
            if let Some(val) = self.read(v) {
                out.push(val);
            }
            false
        });
        out
    }

    fn read(&self, v: &Value) -> Option<Val> {
        let val = match (self.kind, v) {
            (_, Value::Null | Value::Object(_) | Value::Array(_)) => return None,
            (Kind::Text, Value::String(s)) => Val::Str(s.clone()),
            (Kind::Text, Value::Number(n)) => Val::Str(n.to_string()),
            (Kind::Text, Value::Bool(b)) => Val::Str(b.to_string()),
            (Kind::Number, v) => number(v)?,
            (Kind::Bool, Value::Bool(b)) => Val::Bool(*b),
            (Kind::Bool, Value::String(s)) if s == "true" || s == "false" => Val::Bool(s == "true"),
            (Kind::Bool, _) => return None,
            (_, Value::String(s)) => Val::Str(s.clone()),
            (_, Value::Number(n)) => number(&Value::Number(n.clone()))?,
            (_, Value::Bool(b)) => Val::Bool(*b),
        };
        match (&val, self.ignore_above) {
            (Val::Str(s), Some(limit)) if self.kind == Kind::Text && s.chars().count() > limit as usize => None,
            _ => Some(val),
        }
    }
}

fn number(v: &Value) -> Option<Val> {
    match v {
        Value::Number(n) => n.as_i64().map(Val::Int).or_else(|| n.as_f64().map(Val::Float)),
        Value::String(s) => s.trim().parse().map(Val::Int).ok().or_else(|| s.trim().parse().ok().map(Val::Float)),
        _ => None,
    }
}

/// A value in a script or a constant.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Val {
    fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Bool(b) => Some(b.to_string()),
            Val::Int(n) => Some(n.to_string()),
            Val::Float(f) => Some(float_text(*f)),
            Val::Str(s) => Some(s.clone()),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(n) => Some(*n as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// A float as Java prints a double: `42.5`, `1.0`.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { f.to_string() }
}

/// What a query leaf tests one value with.
#[derive(Clone, Debug)]
enum Test {
    Exists,
    /// `==`, `:` without wildcards, `in`: any of the constants (case-insensitive or not).
    Terms(Vec<Val>, bool),
    Range(Compare, Val),
    /// `:` with wildcards, `like`, `endsWith`, `stringContains`: any of the patterns.
    Wildcards(Wildcards),
    Prefix(String, bool),
    Regex(Vec<regex::Regex>),
}

impl Test {
    fn passes(&self, kind: Kind, v: &Val) -> bool {
        match self {
            Test::Exists => true,
            Test::Terms(list, insensitive) => list.iter().any(|c| equal(kind, v, c, *insensitive)),
            Test::Range(op, c) => order(v, c).is_some_and(|o| holds(*op, o)),
            Test::Wildcards(patterns) => v.text().is_some_and(|t| patterns.matches(&t)),
            Test::Prefix(prefix, insensitive) => v.text().is_some_and(|t| {
                if *insensitive { t.to_lowercase().starts_with(&prefix.to_lowercase()) } else { t.starts_with(prefix) }
            }),
            Test::Regex(list) => v.text().is_some_and(|t| list.iter().any(|r| r.is_match(&t))),
        }
    }
}

/// Equality as a `term` query on a field of `kind` finds it.
fn equal(kind: Kind, v: &Val, c: &Val, insensitive: bool) -> bool {
    if kind == Kind::Ip
        && let (Val::Str(value), Some(block)) = (v, c.text())
    {
        return ip_in(value, &block);
    }
    match (v, c) {
        (Val::Int(a), Val::Int(b)) => a == b,
        (a, b) if a.as_f64().is_some() && b.as_f64().is_some() => a.as_f64() == b.as_f64(),
        (Val::Int(_) | Val::Float(_), Val::Str(s)) => {
            number(&Value::String(s.clone())).is_some_and(|n| equal(kind, v, &n, false))
        }
        (Val::Bool(a), Val::Bool(b)) => a == b,
        _ => match (v.text(), c.text()) {
            (Some(a), Some(b)) if insensitive => a.to_lowercase() == b.to_lowercase(),
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    }
}

/// How `v` compares with `c`: numbers as numbers, addresses as addresses, strings by code point.
fn order(v: &Val, c: &Val) -> Option<std::cmp::Ordering> {
    match (v, c) {
        (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
        (a, b) if a.as_f64().is_some() && b.as_f64().is_some() => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Val::Int(_) | Val::Float(_), Val::Str(s)) => order(v, &number(&Value::String(s.clone()))?),
        (Val::Str(a), Val::Str(b)) => match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
            (Ok(x), Ok(y)) => Some(x.cmp(&y)),
            _ => Some(a.cmp(b)),
        },
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn holds(op: Compare, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        Compare::Eq => o == Equal,
        Compare::Ne => o != Equal,
        Compare::Lt => o == Less,
        Compare::Le => o != Greater,
        Compare::Gt => o == Greater,
        Compare::Ge => o != Less,
    }
}

/// Whether the address `value` is `block` (an address, or a CIDR block `addr/bits`).
fn ip_in(value: &str, block: &str) -> bool {
    let Ok(ip) = value.parse::<IpAddr>() else { return false };
    let (base, bits) = match block.split_once('/') {
        Some((base, bits)) => (base, bits.parse::<u32>().ok()),
        None => (block, None),
    };
    let Ok(base) = base.parse::<IpAddr>() else { return false };
    let (ip, base, width) = match (ip, base) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        (IpAddr::V6(a), IpAddr::V4(b)) => match a.to_ipv4_mapped() {
            Some(a) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
            None => return false,
        },
        (IpAddr::V4(a), IpAddr::V6(b)) => match b.to_ipv4_mapped() {
            Some(b) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
            None => return false,
        },
    };
    let bits = bits.unwrap_or(width).min(width);
    let shift = width - bits;
    if shift >= 128 { true } else { (ip >> shift) == (base >> shift) }
}

/// EQL wildcard patterns, any of which may match: `*` any characters, `?` one; no escapes (a
/// backslash is itself). All of one comparison fold case or none do, so a value is folded and
/// split into characters once for all of them.
#[derive(Clone, Debug)]
struct Wildcards {
    patterns: Vec<Vec<char>>,
    insensitive: bool,
}

impl Wildcards {
    fn new<'a>(patterns: impl IntoIterator<Item = &'a str>, insensitive: bool) -> Wildcards {
        let fold = |p: &str| if insensitive { p.to_lowercase() } else { p.to_owned() };
        Wildcards { patterns: patterns.into_iter().map(|p| fold(p).chars().collect()).collect(), insensitive }
    }

    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> =
            if self.insensitive { text.to_lowercase().chars().collect() } else { text.chars().collect() };
        self.patterns.iter().any(|p| glob(p, &text))
    }
}

/// Whether pattern `p` matches all of `t`. The classic two-pointer match: on a mismatch, go back
/// to the last `*` and let it take one more character. Linear in practice, quadratic at worst.
fn glob(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// A script: an expression evaluated with `null` for missing fields.
#[derive(Clone, Debug)]
struct Script {
    expr: SExpr,
    negated: bool,
    fields: Vec<Field>,
}

impl Script {
    /// True when some combination of the fields' values makes the expression `true`.
    fn matches(&self, doc: &Value) -> bool {
        let values: Vec<Vec<Val>> = self
            .fields
            .iter()
            .map(|f| {
                let v = f.values(doc);
                if v.is_empty() { vec![Val::Null] } else { v }
            })
            .collect();
        let mut pick = vec![0usize; values.len()];
        for _ in 0..MAX_COMBINATIONS {
            let row: Vec<&Val> = pick.iter().zip(&values).map(|(&i, vs)| &vs[i]).collect();
            let out = self.expr.eval(&row);
            let out = if self.negated { not(out) } else { out };
            if out == Val::Bool(true) {
                return true;
            }
            // The next combination, odometer-style.
            let mut at = 0;
            loop {
                if at == pick.len() {
                    return false;
                }
                pick[at] += 1;
                if pick[at] < values[at].len() {
                    break;
                }
                pick[at] = 0;
                at += 1;
            }
        }
        false
    }
}

fn not(v: Val) -> Val {
    match v {
        Val::Bool(b) => Val::Bool(!b),
        _ => Val::Null,
    }
}

/// A script expression; fields are numbered into the script's field list.
#[derive(Clone, Debug)]
enum SExpr {
    Lit(Val),
    Field(usize),
    Not(Box<SExpr>),
    And(Box<SExpr>, Box<SExpr>),
    Or(Box<SExpr>, Box<SExpr>),
    Compare(Compare, Box<SExpr>, Box<SExpr>),
    Arith(Arith, Box<SExpr>, Box<SExpr>),
    Neg(Box<SExpr>),
    In(Box<SExpr>, Vec<SExpr>, bool),
    Wildcards(Box<SExpr>, Wildcards),
    Regex(Box<SExpr>, Vec<regex::Regex>),
    Call(Func, bool, Vec<SExpr>),
}

impl SExpr {
    fn eval(&self, row: &[&Val]) -> Val {
        match self {
            SExpr::Lit(v) => v.clone(),
            SExpr::Field(i) => row[*i].clone(),
            SExpr::Not(e) => not(e.eval(row)),
            SExpr::And(a, b) => match (a.eval(row), b.eval(row)) {
                (Val::Bool(false), _) | (_, Val::Bool(false)) => Val::Bool(false),
                (Val::Bool(true), Val::Bool(true)) => Val::Bool(true),
                _ => Val::Null,
            },
            SExpr::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Val::Bool(true), _) | (_, Val::Bool(true)) => Val::Bool(true),
                (Val::Bool(false), Val::Bool(false)) => Val::Bool(false),
                _ => Val::Null,
            },
            SExpr::Compare(op, a, b) => {
                let (a, b) = (a.eval(row), b.eval(row));
                if a == Val::Null || b == Val::Null {
                    return Val::Null;
                }
                match op {
                    Compare::Eq => Val::Bool(equal(Kind::Dynamic, &a, &b, false)),
                    Compare::Ne => Val::Bool(!equal(Kind::Dynamic, &a, &b, false)),
                    op => order(&a, &b).map_or(Val::Null, |o| Val::Bool(holds(*op, o))),
                }
            }
            SExpr::Arith(op, a, b) => arith(*op, &a.eval(row), &b.eval(row)),
            SExpr::Neg(e) => match e.eval(row) {
                Val::Int(n) => n.checked_neg().map_or(Val::Null, Val::Int),
                Val::Float(f) => Val::Float(-f),
                _ => Val::Null,
            },
            SExpr::In(value, list, insensitive) => {
                let v = value.eval(row);
                if v == Val::Null {
                    return Val::Null;
                }
                Val::Bool(list.iter().any(|c| equal(Kind::Dynamic, &v, &c.eval(row), *insensitive)))
            }
            SExpr::Wildcards(value, patterns) => match value.eval(row).text() {
                Some(t) => Val::Bool(patterns.matches(&t)),
                None => Val::Null,
            },
            SExpr::Regex(value, list) => match value.eval(row).text() {
                Some(t) => Val::Bool(list.iter().any(|r| r.is_match(&t))),
                None => Val::Null,
            },
            SExpr::Call(func, insensitive, args) => {
                let args: Vec<Val> = args.iter().map(|a| a.eval(row)).collect();
                func.call(*insensitive, &args)
            }
        }
    }
}

fn arith(op: Arith, a: &Val, b: &Val) -> Val {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => match op {
            Arith::Add => x.checked_add(*y),
            Arith::Sub => x.checked_sub(*y),
            Arith::Mul => x.checked_mul(*y),
            // Java's integer division and remainder: truncated toward zero.
            Arith::Div => x.checked_div(*y),
            Arith::Mod => x.checked_rem(*y),
        }
        .map_or(Val::Null, Val::Int),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => match op {
                Arith::Add => Val::Float(x + y),
                Arith::Sub => Val::Float(x - y),
                Arith::Mul => Val::Float(x * y),
                Arith::Div if y == 0.0 => Val::Null,
                Arith::Div => Val::Float(x / y),
                Arith::Mod if y == 0.0 => Val::Null,
                Arith::Mod => Val::Float(x % y),
            },
            _ => Val::Null,
        },
    }
}

/// The functions Elasticsearch's EQL has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Func {
    Add,
    Between,
    CidrMatch,
    Concat,
    Divide,
    EndsWith,
    IndexOf,
    Length,
    Modulo,
    Multiply,
    Number,
    StartsWith,
    String,
    StringContains,
    Substring,
    Subtract,
}

impl Func {
    /// The function called `name` (in any letter case, as Elasticsearch resolves them), with
    /// the argument counts it takes and whether it has a `~` form.
    fn resolve(name: &str) -> Option<(Func, std::ops::RangeInclusive<usize>, bool)> {
        Some(match name.to_ascii_lowercase().as_str() {
            "add" => (Func::Add, 2..=2, false),
            "between" => (Func::Between, 3..=4, true),
            "cidrmatch" => (Func::CidrMatch, 2..=usize::MAX, false),
            "concat" => (Func::Concat, 1..=usize::MAX, false),
            "divide" => (Func::Divide, 2..=2, false),
            "endswith" => (Func::EndsWith, 2..=2, true),
            "indexof" => (Func::IndexOf, 2..=3, true),
            "length" => (Func::Length, 1..=1, false),
            "modulo" => (Func::Modulo, 2..=2, false),
            "multiply" => (Func::Multiply, 2..=2, false),
            "number" => (Func::Number, 1..=2, false),
            "startswith" => (Func::StartsWith, 2..=2, true),
            "string" => (Func::String, 1..=1, false),
            "stringcontains" => (Func::StringContains, 2..=2, true),
            "substring" => (Func::Substring, 2..=3, false),
            "subtract" => (Func::Subtract, 2..=2, false),
            _ => return None,
        })
    }

    fn call(self, insensitive: bool, args: &[Val]) -> Val {
        let fold = |s: &str| if insensitive { s.to_lowercase() } else { s.to_owned() };
        let text = |i: usize| args.get(i).and_then(Val::text);
        match self {
            Func::Add => arith(Arith::Add, &args[0], &args[1]),
            Func::Subtract => arith(Arith::Sub, &args[0], &args[1]),
            Func::Multiply => arith(Arith::Mul, &args[0], &args[1]),
            Func::Divide => arith(Arith::Div, &args[0], &args[1]),
            Func::Modulo => arith(Arith::Mod, &args[0], &args[1]),
            Func::Length => text(0).map_or(Val::Null, |s| Val::Int(s.chars().count() as i64)),
            Func::String => text(0).map_or(Val::Null, Val::Str),
            Func::Concat => {
                let parts: Option<Vec<String>> = args.iter().map(Val::text).collect();
                parts.map_or(Val::Null, |p| Val::Str(p.concat()))
            }
            Func::StartsWith | Func::EndsWith | Func::StringContains => {
                let (Some(s), Some(sub)) = (text(0), text(1)) else { return Val::Null };
                let (s, sub) = (fold(&s), fold(&sub));
                Val::Bool(match self {
                    Func::StartsWith => s.starts_with(&sub),
                    Func::EndsWith => s.ends_with(&sub),
                    _ => !sub.is_empty() && s.contains(&sub),
                })
            }
            Func::CidrMatch => {
                let Some(ip) = text(0) else { return Val::Null };
                let blocks: Option<Vec<String>> = args[1..].iter().map(Val::text).collect();
                blocks.map_or(Val::Null, |b| Val::Bool(b.iter().any(|b| ip_in(&ip, b))))
            }
            Func::IndexOf => {
                let (Some(s), Some(sub)) = (text(0), text(1)) else { return Val::Null };
                let start = match args.get(2) {
                    None => 0,
                    Some(Val::Int(n)) => (*n).max(0) as usize,
                    Some(_) => return Val::Null,
                };
                let (s, sub): (Vec<char>, Vec<char>) = (fold(&s).chars().collect(), fold(&sub).chars().collect());
                if start > s.len() {
                    return Val::Null;
                }
                (start..=s.len().saturating_sub(sub.len()))
                    .find(|&at| s[at..].starts_with(&sub))
                    .map_or(Val::Null, |at| Val::Int(at as i64))
            }
            Func::Between => {
                let (Some(s), Some(left), Some(right)) = (text(0), text(1), text(2)) else { return Val::Null };
                let greedy = matches!(args.get(3), Some(Val::Bool(true)));
                let (hay, l, r) = (fold(&s), fold(&left), fold(&right));
                // Positions found in the folded text; `to_lowercase` may change lengths, so
                // the answer is cut from the folded text when matching without case.
                let source = if insensitive { &hay } else { &s };
                let Some(start) = hay.find(&l).map(|at| at + l.len()) else { return Val::Str(String::new()) };
                let end = if greedy { hay[start..].rfind(&r) } else { hay[start..].find(&r) };
                end.map_or(Val::Str(String::new()), |end| Val::Str(source[start..start + end].to_owned()))
            }
            Func::Number => {
                let Some(s) = text(0) else { return Val::Null };
                let s = s.trim();
                let (digits, radix) = match (s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")), args.get(1)) {
                    (Some(hex), None | Some(Val::Null)) => (hex, 16),
                    (_, Some(Val::Int(base))) => (s.strip_prefix("0x").unwrap_or(s), u32::try_from(*base).unwrap_or(0)),
                    _ => (s, 10),
                };
                if !(2..=36).contains(&radix) {
                    return Val::Null;
                }
                match i64::from_str_radix(digits, radix) {
                    Ok(n) => Val::Int(n),
                    Err(_) if radix == 10 => digits.parse().map_or(Val::Null, Val::Float),
                    Err(_) => Val::Null,
                }
            }
            Func::Substring => {
                let Some(s) = text(0) else { return Val::Null };
                let chars: Vec<char> = s.chars().collect();
                let len = chars.len() as i64;
                let at = |v: Option<&Val>, default: i64| match v {
                    None | Some(Val::Null) => Some(default),
                    Some(Val::Int(n)) => Some(if *n < 0 { (len + n).max(0) } else { (*n).min(len) }),
                    Some(_) => None,
                };
                let (Some(start), Some(end)) = (at(args.get(1), 0), at(args.get(2), len)) else { return Val::Null };
                if start >= end {
                    return Val::Str(String::new());
                }
                Val::Str(chars[start as usize..end as usize].iter().collect())
            }
        }
    }
}

struct Compiler<'c> {
    catalog: &'c Catalog,
}

fn invalid(message: impl Into<String>, span: Span) -> Error {
    Error::new(ErrorKind::Invalid(message.into()), span)
}

impl Compiler<'_> {
    fn field(&self, path: &[String]) -> Field {
        let name = path.join(".");
        let (kind, ignore_above) = match self.catalog.type_of(&name) {
            Some((ty, ignore_above)) => (
                match ty {
                    FieldType::Long | FieldType::Integer | FieldType::Float => Kind::Number,
                    FieldType::Ip => Kind::Ip,
                    FieldType::Boolean => Kind::Bool,
                    FieldType::Date | FieldType::DateNanos | FieldType::Object | FieldType::Nested => Kind::Dynamic,
                    _ => Kind::Text,
                },
                ignore_above,
            ),
            None => (Kind::Dynamic, None),
        };
        Field { path: Path::new(&name), kind, ignore_above }
    }

    /// A condition: `and`/`or`/`not` over query leaves and scripts.
    fn condition(&self, e: &Expr) -> Result<Node, Error> {
        Ok(match &e.kind {
            ExprKind::And(a, b) => Node::And(Box::new(self.condition(a)?), Box::new(self.condition(b)?)),
            ExprKind::Or(a, b) => Node::Or(Box::new(self.condition(a)?), Box::new(self.condition(b)?)),
            ExprKind::Not(inner) => match self.condition(inner)? {
                Node::Script(script) => Node::Script(Script { negated: !script.negated, ..script }),
                Node::Const(b) => Node::Const(!b),
                node => Node::Not(Box::new(node)),
            },
            _ => match self.leaf(e)? {
                Some(node) => node,
                None => self.script(e)?,
            },
        })
    }

    /// The query leaf Elasticsearch would make of `e`, when it makes one.
    fn leaf(&self, e: &Expr) -> Result<Option<Node>, Error> {
        let node = match &e.kind {
            ExprKind::Bool(b) => Node::Const(*b),
            ExprKind::Null => Node::Const(false),
            ExprKind::Compare(op, a, b) => {
                let (op, field, value) = match (&a.kind, &b.kind) {
                    (ExprKind::Field { .. }, ExprKind::Field { .. }) => {
                        return Err(invalid(
                            "comparisons against fields are not supported; compare each field with a value",
                            b.span,
                        ));
                    }
                    (ExprKind::Field { path, .. }, _) => (*op, path, b),
                    // A constant on the left is moved to the right, as Elasticsearch does.
                    (_, ExprKind::Field { path, .. }) if fields_of(a).is_empty() => (flip(*op), path, a),
                    _ => return Ok(None),
                };
                if !fields_of(value).is_empty() {
                    return Ok(None);
                }
                let field = self.field(field);
                let value = self.constant(value)?;
                match (op, value) {
                    (Compare::Eq, Val::Null) => Node::Not(Box::new(Node::Leaf(field, Test::Exists))),
                    (Compare::Ne, Val::Null) => Node::Leaf(field, Test::Exists),
                    (_, Val::Null) => Node::Const(false),
                    (Compare::Eq, v) => Node::Leaf(field, Test::Terms(vec![v], false)),
                    (Compare::Ne, v) => Node::Not(Box::new(Node::Leaf(field, Test::Terms(vec![v], false)))),
                    (op, v) => Node::Leaf(field, Test::Range(op, v)),
                }
            }
            ExprKind::In { value, list, insensitive, negated } => {
                let ExprKind::Field { path, .. } = &value.kind else { return Ok(None) };
                if let Some(field) = list.iter().find(|c| !fields_of(c).is_empty()) {
                    return Err(invalid("`in` takes values, not fields", field.span));
                }
                let consts = list.iter().map(|c| self.constant(c)).collect::<Result<Vec<_>, _>>()?;
                let consts: Vec<Val> = consts.into_iter().filter(|c| *c != Val::Null).collect();
                let node = Node::Leaf(self.field(path), Test::Terms(consts, *insensitive));
                if *negated { Node::Not(Box::new(node)) } else { node }
            }
            ExprKind::Match { value, kind, insensitive, patterns } => {
                let ExprKind::Field { path, .. } = &value.kind else { return Ok(None) };
                let field = self.field(path);
                let texts = self.patterns(patterns)?;
                match kind {
                    MatchKind::Regex => Node::Leaf(field, Test::Regex(regexes(&texts, *insensitive, patterns)?)),
                    // `:` without wildcards is a case-insensitive `term` query; `like` always wildcards.
                    MatchKind::Colon if !texts.iter().any(|t| has_wildcard(t)) => {
                        Node::Leaf(field, Test::Terms(texts.into_iter().map(Val::Str).collect(), true))
                    }
                    _ => Node::Leaf(
                        field,
                        Test::Wildcards(Wildcards::new(texts.iter().map(String::as_str), *insensitive)),
                    ),
                }
            }
            ExprKind::Call { name, insensitive, args } => {
                let (func, _) = self.resolve(name, *insensitive, args, e.span)?;
                let (Some(ExprKind::Field { path, .. }), true) =
                    (args.first().map(|a| &a.kind), args[1..].iter().all(|a| fields_of(a).is_empty()))
                else {
                    return Ok(None);
                };
                let rest = args[1..].iter().map(|a| self.constant(a)).collect::<Result<Vec<_>, _>>()?;
                let field = self.field(path);
                let text = |v: &Val| v.text();
                match (func, rest.as_slice()) {
                    (Func::StartsWith, [Val::Str(prefix)]) => {
                        Node::Leaf(field, Test::Prefix(prefix.clone(), *insensitive))
                    }
                    (Func::EndsWith, [Val::Str(s)]) => {
                        Node::Leaf(field, Test::Wildcards(Wildcards::new([format!("*{s}").as_str()], *insensitive)))
                    }
                    (Func::StringContains, [Val::Str(s)]) => {
                        Node::Leaf(field, Test::Wildcards(Wildcards::new([format!("*{s}*").as_str()], *insensitive)))
                    }
                    (Func::CidrMatch, blocks) if blocks.iter().all(|b| b.text().is_some()) => {
                        Node::Leaf(field, Test::Terms(blocks.iter().filter_map(text).map(Val::Str).collect(), false))
                    }
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(node))
    }

    fn resolve(&self, name: &str, insensitive: bool, args: &[Expr], span: Span) -> Result<(Func, bool), Error> {
        let Some((func, arity, tilde)) = Func::resolve(name) else {
            return Err(invalid(format!("`{name}` is not an EQL function"), span));
        };
        if !arity.contains(&args.len()) {
            let takes = match (*arity.start(), *arity.end()) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("{a} or more"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err(invalid(format!("`{name}` takes {takes} arguments, not {}", args.len()), span));
        }
        if insensitive && !tilde {
            return Err(invalid(format!("`{name}` has no case-insensitive form (`{name}~`)"), span));
        }
        Ok((func, insensitive))
    }

    fn patterns(&self, patterns: &[Expr]) -> Result<Vec<String>, Error> {
        patterns
            .iter()
            .map(|p| match &p.kind {
                ExprKind::Str(s) => Ok(s.clone()),
                _ => Err(invalid("patterns are strings", p.span)),
            })
            .collect()
    }

    /// The value of an expression without fields.
    fn constant(&self, e: &Expr) -> Result<Val, Error> {
        let expr = self.expr(e, &mut Vec::new())?;
        Ok(expr.eval(&[]))
    }

    fn script(&self, e: &Expr) -> Result<Node, Error> {
        let mut fields = Vec::new();
        let expr = self.expr(e, &mut fields)?;
        if fields.is_empty() {
            return Ok(Node::Const(expr.eval(&[]) == Val::Bool(true)));
        }
        Ok(Node::Script(Script { expr, negated: false, fields }))
    }

    fn boxed(&self, e: &Expr, fields: &mut Vec<Field>) -> Result<Box<SExpr>, Error> {
        self.expr(e, fields).map(Box::new)
    }

    /// A script expression; its fields are added to `fields`.
    fn expr(&self, e: &Expr, fields: &mut Vec<Field>) -> Result<SExpr, Error> {
        Ok(match &e.kind {
            ExprKind::Null => SExpr::Lit(Val::Null),
            ExprKind::Bool(b) => SExpr::Lit(Val::Bool(*b)),
            ExprKind::Int(n) => SExpr::Lit(Val::Int(*n)),
            ExprKind::Float(f) => SExpr::Lit(Val::Float(*f)),
            ExprKind::Str(s) => SExpr::Lit(Val::Str(s.clone())),
            ExprKind::Field { path, .. } => {
                let name = path.join(".");
                let at = match fields.iter().position(|f| f.path.as_str() == name) {
                    Some(at) => at,
                    None => {
                        fields.push(self.field(path));
                        fields.len() - 1
                    }
                };
                SExpr::Field(at)
            }
            ExprKind::Not(x) => SExpr::Not(self.boxed(x, fields)?),
            ExprKind::And(a, b) => SExpr::And(self.boxed(a, fields)?, self.boxed(b, fields)?),
            ExprKind::Or(a, b) => SExpr::Or(self.boxed(a, fields)?, self.boxed(b, fields)?),
            ExprKind::Compare(op, a, b) => {
                if !fields_of(a).is_empty() && !fields_of(b).is_empty() {
                    return Err(invalid(
                        "comparisons against fields are not supported; compare each field with a value",
                        b.span,
                    ));
                }
                SExpr::Compare(*op, self.boxed(a, fields)?, self.boxed(b, fields)?)
            }
            ExprKind::Arith(op, a, b) => SExpr::Arith(*op, self.boxed(a, fields)?, self.boxed(b, fields)?),
            ExprKind::Neg(x) => SExpr::Neg(self.boxed(x, fields)?),
            ExprKind::In { value, list, insensitive, negated } => {
                let value = self.boxed(value, fields)?;
                let list = list.iter().map(|c| self.expr(c, fields)).collect::<Result<Vec<_>, _>>()?;
                let found = SExpr::In(value, list, *insensitive);
                if *negated { SExpr::Not(Box::new(found)) } else { found }
            }
            ExprKind::Match { value, kind, insensitive, patterns } => {
                let texts = self.patterns(patterns)?;
                let value = self.boxed(value, fields)?;
                match kind {
                    MatchKind::Regex => SExpr::Regex(value, regexes(&texts, *insensitive, patterns)?),
                    _ => SExpr::Wildcards(value, Wildcards::new(texts.iter().map(String::as_str), *insensitive)),
                }
            }
            ExprKind::Call { name, insensitive, args } => {
                let (func, insensitive) = self.resolve(name, *insensitive, args, e.span)?;
                let args = args.iter().map(|a| self.expr(a, fields)).collect::<Result<Vec<_>, _>>()?;
                SExpr::Call(func, insensitive, args)
            }
        })
    }
}

/// The fields an expression reads.
fn fields_of(e: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    collect(e, &mut out);
    out
}

fn collect(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Field { path, .. } => out.push(path.join(".")),
        ExprKind::Not(x) | ExprKind::Neg(x) => collect(x, out),
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Compare(_, a, b) | ExprKind::Arith(_, a, b) => {
            collect(a, out);
            collect(b, out);
        }
        ExprKind::In { value, list, .. } => {
            collect(value, out);
            list.iter().for_each(|x| collect(x, out));
        }
        ExprKind::Match { value, .. } => collect(value, out),
        ExprKind::Call { args, .. } => args.iter().for_each(|x| collect(x, out)),
        ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
    }
}

fn flip(op: Compare) -> Compare {
    match op {
        Compare::Lt => Compare::Gt,
        Compare::Le => Compare::Ge,
        Compare::Gt => Compare::Lt,
        Compare::Ge => Compare::Le,
        same => same,
    }
}

/// Lucene regular expressions (anchored: the whole value must match) as `regex` ones.
fn regexes(texts: &[String], insensitive: bool, patterns: &[Expr]) -> Result<Vec<regex::Regex>, Error> {
    texts
        .iter()
        .zip(patterns)
        .map(|(text, p)| {
            regex::RegexBuilder::new(&format!("^(?:{text})$"))
                .case_insensitive(insensitive)
                .dot_matches_new_line(true)
                .build()
                .map_err(|err| invalid(format!("not a regular expression vigil can run: {err}"), p.span))
        })
        .collect()
}
