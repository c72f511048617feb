//! `Display`: the canonical text of a query, which parses back to the same query.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{EventFilter, Expr, ExprKind, MatchKind, Query, QueryKind, Term};
use crate::parser::is_keyword;

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            QueryKind::Event(filter) => write!(f, "{filter}")?,
            QueryKind::Sequence(seq) => {
                f.write_str("sequence")?;
                keys(f, " by ", &seq.by)?;
                if let Some(span) = seq.maxspan {
                    write!(f, " with maxspan={}{}", span.value, span.unit)?;
                }
                for term in &seq.terms {
                    write!(f, " {term}")?;
                }
                if let Some(until) = &seq.until {
                    write!(f, " until {until}")?;
                }
            }
            QueryKind::Sample(sample) => {
                f.write_str("sample")?;
                keys(f, " by ", &sample.by)?;
                for term in &sample.terms {
                    write!(f, " {term}")?;
                }
            }
        }
        for pipe in &self.pipes {
            write!(f, " | {}", pipe.name)?;
            keys(f, " ", &pipe.args)?;
        }
        Ok(())
    }
}

fn keys(f: &mut Formatter<'_>, before: &str, keys: &[Expr]) -> fmt::Result {
    for (at, key) in keys.iter().enumerate() {
        f.write_str(if at == 0 { before } else { ", " })?;
        write!(f, "{key}")?;
    }
    Ok(())
}

impl Display for Term {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}]", if self.missing { "![" } else { "[" }, self.filter)?;
        keys(f, " by ", &self.by)?;
        if self.runs != 1 {
            write!(f, " with runs={}", self.runs)?;
        }
        Ok(())
    }
}

impl Display for EventFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.category {
            None => f.write_str("any")?,
            Some(c) if is_identifier(c) => f.write_str(c)?,
            Some(c) => string(f, c)?,
        }
        write!(f, " where {}", self.condition)
    }
}

/// A word the lexer reads as one identifier, and not a keyword.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(s)
}

fn string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{{{:02x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// How tightly an expression binds; a child binding looser than its place is parenthesized.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(..) => 1,
        ExprKind::And(..) => 2,
        ExprKind::Not(_) => 3,
        ExprKind::Compare(..) => 4,
        ExprKind::Arith(op, ..) => match op {
            crate::Arith::Add | crate::Arith::Sub => 5,
            _ => 6,
        },
        ExprKind::Neg(_) => 7,
        _ => 8,
    }
}

struct At<'a>(&'a Expr, u8);

impl Display for At<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if precedence(self.0) < self.1 { write!(f, "({})", self.0) } else { write!(f, "{}", self.0) }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let p = precedence(self);
        match &self.kind {
            ExprKind::Null => f.write_str("null"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Int(n) => write!(f, "{n}"),
            ExprKind::Float(n) => write!(f, "{n:?}"),
            ExprKind::Str(s) => string(f, s),
            ExprKind::Field { path, optional } => {
                if *optional {
                    f.write_char('?')?;
                }
                for (at, segment) in path.iter().enumerate() {
                    if at > 0 {
                        f.write_char('.')?;
                    }
                    if is_identifier(segment) {
                        f.write_str(segment)?;
                    } else {
                        write!(f, "`{}`", segment.replace('`', "``"))?;
                    }
                }
                Ok(())
            }
            ExprKind::Not(e) => write!(f, "not {}", At(e, p)),
            ExprKind::And(a, b) => write!(f, "{} and {}", At(a, p), At(b, p + 1)),
            ExprKind::Or(a, b) => write!(f, "{} or {}", At(a, p), At(b, p + 1)),
            ExprKind::Compare(op, a, b) => write!(f, "{} {} {}", At(a, p + 1), op.as_str(), At(b, p + 1)),
            ExprKind::Arith(op, a, b) => write!(f, "{} {} {}", At(a, p), op.as_str(), At(b, p + 1)),
            ExprKind::Neg(e) => write!(f, "-{}", At(e, p)),
            ExprKind::In { value, list, insensitive, negated } => {
                write!(
                    f,
                    "{} {}in{} (",
                    At(value, 8),
                    if *negated { "not " } else { "" },
                    if *insensitive { "~" } else { "" }
                )?;
                keys(f, "", list)?;
                f.write_char(')')
            }
            ExprKind::Match { value, kind, insensitive, patterns } => {
                let op = match (kind, insensitive) {
                    (MatchKind::Colon, _) => ":",
                    (MatchKind::Like, false) => "like",
                    (MatchKind::Like, true) => "like~",
                    (MatchKind::Regex, false) => "regex",
                    (MatchKind::Regex, true) => "regex~",
                };
                write!(f, "{} {op} ", At(value, 8))?;
                if let [one] = patterns.as_slice() {
                    write!(f, "{one}")
                } else {
                    f.write_char('(')?;
                    keys(f, "", patterns)?;
                    f.write_char(')')
                }
            }
            ExprKind::Call { name, insensitive, args } => {
                write!(f, "{name}{}(", if *insensitive { "~" } else { "" })?;
                keys(f, "", args)?;
                f.write_char(')')
            }
        }
    }
}
