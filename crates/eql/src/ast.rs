//! The syntax tree [`parse`](crate::parse) builds.

use kql::Span;

/// A whole EQL query: what it selects, and the pipes that follow.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// An event query, a sequence or a sample.
    pub kind: QueryKind,
    /// `| head 5`, `| tail 1`, ... in order.
    pub pipes: Vec<Pipe>,
}

/// The three kinds of EQL query.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryKind {
    /// `category where condition`.
    Event(EventFilter),
    /// `sequence [by keys] [with maxspan=N] [..] [..] [until [..]]`.
    Sequence(Sequence),
    /// `sample [by keys] [..] [..]`.
    Sample(Sample),
}

/// `category where condition`, or `any where condition`.
#[derive(Clone, Debug)]
pub struct EventFilter {
    /// The event category (a value of `event.category`); `None` for `any`.
    pub category: Option<String>,
    /// The condition an event must meet.
    pub condition: Expr,
    /// The whole filter.
    pub span: Span,
}

/// A sequence of events in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// Join keys every term shares (`sequence by host.id`).
    pub by: Vec<Expr>,
    /// All events of a match within this time of the first.
    pub maxspan: Option<MaxSpan>,
    /// The terms, in the order their events must come.
    pub terms: Vec<Term>,
    /// A match in progress ends when an event meets this term.
    pub until: Option<Term>,
}

/// `with maxspan=30s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxSpan {
    /// The span in milliseconds.
    pub millis: u64,
    /// The number as written.
    pub value: u64,
    /// The unit as written: `ms`, `s`, `m`, `h` or `d`.
    pub unit: &'static str,
}

/// Events that share join keys, in any order.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Join keys every term shares.
    pub by: Vec<Expr>,
    /// The terms.
    pub terms: Vec<Term>,
}

/// One bracketed term of a sequence or sample: `[filter] by keys with runs=N`.
#[derive(Clone, Debug)]
pub struct Term {
    /// The events this term takes.
    pub filter: EventFilter,
    /// This term's own join keys.
    pub by: Vec<Expr>,
    /// `with runs=N`: the term stands for N consecutive events (1 when absent).
    pub runs: u32,
    /// `![...]`: no such event may come at this place in the sequence.
    pub missing: bool,
    /// The whole term.
    pub span: Span,
}

/// `| name args`.
#[derive(Clone, Debug)]
pub struct Pipe {
    /// The pipe's name (`head`, `tail`, `filter`, ...).
    pub name: String,
    /// Its arguments.
    pub args: Vec<Expr>,
    /// The whole pipe.
    pub span: Span,
}

/// An expression, with the span of its text. Equality ignores spans: two expressions are equal
/// when they mean the same, wherever they were written.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of [`Expr`].
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `null`.
    Null,
    /// `true`, `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string (escapes resolved).
    Str(String),
    /// A field: its path segments (`process.parent.name` is three), and whether it was written
    /// `?field` (optional: null when the field is not mapped, rather than an error).
    Field {
        /// The dotted path's segments.
        path: Vec<String>,
        /// Written with a leading `?`.
        optional: bool,
    },
    /// `not e`.
    Not(Box<Expr>),
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
    /// `a == b`, `a < b`, ...
    Compare(Compare, Box<Expr>, Box<Expr>),
    /// `a + b`, `a * b`, ...
    Arith(Arith, Box<Expr>, Box<Expr>),
    /// `-a`.
    Neg(Box<Expr>),
    /// `value [not] in[~] (list)`.
    In {
        /// The value looked up.
        value: Box<Expr>,
        /// The list.
        list: Vec<Expr>,
        /// `in~`: strings compared without regard to case.
        insensitive: bool,
        /// `not in`.
        negated: bool,
    },
    /// `value : patterns`, `value like patterns`, `value regex patterns` and their `~` forms.
    Match {
        /// The value matched.
        value: Box<Expr>,
        /// `:`, `like` or `regex`.
        kind: MatchKind,
        /// Without regard to case (`:` always is).
        insensitive: bool,
        /// One constant, or a parenthesized list of them.
        patterns: Vec<Expr>,
    },
    /// `name(args)`, or `name~(args)`.
    Call {
        /// The function's name as written.
        name: String,
        /// Written with `~`: without regard to case.
        insensitive: bool,
        /// The arguments.
        args: Vec<Expr>,
    },
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

/// The pattern operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// `:` (case-insensitive equality, with `*` and `?` wildcards).
    Colon,
    /// `like` (wildcards).
    Like,
    /// `regex` (Lucene regular expressions).
    Regex,
}

impl Query {
    /// Its event filters: the one of an event query, or each term of a sequence (its `until`
    /// last) or sample.
    pub fn filters(&self) -> Vec<&EventFilter> {
        match &self.kind {
            QueryKind::Event(filter) => vec![filter],
            QueryKind::Sequence(seq) => seq.terms.iter().chain(&seq.until).map(|t| &t.filter).collect(),
            QueryKind::Sample(sample) => sample.terms.iter().map(|t| &t.filter).collect(),
        }
    }
}

impl Expr {
    pub(crate) fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// The field's dotted name, when this is a field.
    pub fn field_name(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Field { path, .. } => Some(path.join(".")),
            _ => None,
        }
    }
}

impl Compare {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Compare::Eq => "==",
            Compare::Ne => "!=",
            Compare::Lt => "<",
            Compare::Le => "<=",
            Compare::Gt => ">",
            Compare::Ge => ">=",
        }
    }
}

impl Arith {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::Div => "/",
            Arith::Mod => "%",
        }
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        self.kind == other.kind
    }
}

impl PartialEq for EventFilter {
    fn eq(&self, other: &EventFilter) -> bool {
        (&self.category, &self.condition) == (&other.category, &other.condition)
    }
}

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        (&self.filter, &self.by, self.runs, self.missing) == (&other.filter, &other.by, other.runs, other.missing)
    }
}

impl PartialEq for Pipe {
    fn eq(&self, other: &Pipe) -> bool {
        (&self.name, &self.args) == (&other.name, &other.args)
    }
}
