//! The canonical printer: one spelling per query, which parses back to the same tree.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{Expr, ExprKind, Query, Term, TermKind, ValueExpr, ValueExprKind};

impl Display for Query {
    /// Prints the query canonically: single spaces, lower-case keywords, parentheses only where
    /// the tree needs them, and escapes only where the grammar needs them.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.root {
            Some(root) => root.fmt(f),
            None => Ok(()),
        }
    }
}

/// Binding strength, loosest first: a child binding looser than its parent needs parentheses.
fn strength(kind: &ExprKind) -> u8 {
    match kind {
        ExprKind::Or(_) => 0,
        ExprKind::And(_) => 1,
        ExprKind::Not(_) => 2,
        _ => 3,
    }
}

fn value_strength(kind: &ValueExprKind) -> u8 {
    match kind {
        ValueExprKind::Or(_) => 0,
        ValueExprKind::And(_) => 1,
        ValueExprKind::Not(_) => 2,
        ValueExprKind::Term(_) => 3,
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // A child of equal strength is parenthesized too, so `(a and b) and c` keeps its shape.
        let child = |f: &mut Formatter<'_>, parent: u8, e: &Expr| {
            if strength(&e.kind) <= parent { write!(f, "({e})") } else { write!(f, "{e}") }
        };
        match &self.kind {
            ExprKind::Or(items) | ExprKind::And(items) => {
                let (parent, sep) = if matches!(self.kind, ExprKind::Or(_)) { (0, " or ") } else { (1, " and ") };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    child(f, parent, item)?;
                }
                Ok(())
            }
            ExprKind::Not(inner) => {
                f.write_str("not ")?;
                // `not` applies to a sub-query: anything but a plain expression is parenthesized.
                if strength(&inner.kind) < 3 { write!(f, "({inner})") } else { write!(f, "{inner}") }
            }
            ExprKind::Nested { field, query } => write!(f, "{}:{{{query}}}", Field(field)),
            ExprKind::Range { field, op, value } => write!(f, "{} {} {}", Field(field), op.as_str(), Value(value)),
            ExprKind::Match { field: Some(field), value } => match &value.kind {
                ValueExprKind::Term(term) => write!(f, "{}:{}", Field(field), Value(term)),
                _ => write!(f, "{}:({value})", Field(field)),
            },
            ExprKind::Match { field: None, value } => write!(f, "{value}"),
        }
    }
}

impl Display for ValueExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let child = |f: &mut Formatter<'_>, parent: u8, v: &ValueExpr| {
            if value_strength(&v.kind) <= parent { write!(f, "({v})") } else { write!(f, "{v}") }
        };
        match &self.kind {
            ValueExprKind::Or(items) | ValueExprKind::And(items) => {
                let (parent, sep) = if matches!(self.kind, ValueExprKind::Or(_)) { (0, " or ") } else { (1, " and ") };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    child(f, parent, item)?;
                }
                Ok(())
            }
            ValueExprKind::Not(inner) => {
                f.write_str("not ")?;
                // `not` takes a value or a parenthesized list; `not not x` needs the parentheses.
                if value_strength(&inner.kind) < 3 { write!(f, "({inner})") } else { write!(f, "{inner}") }
            }
            ValueExprKind::Term(term) => Value(term).fmt(f),
        }
    }
}

/// A term in field position (the grammar is the same as for values).
struct Field<'a>(&'a Term);

impl Display for Field<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Value(self.0).fmt(f)
    }
}

/// A term in value position.
struct Value<'a>(&'a Term);

impl Display for Value<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            TermKind::Quoted(text) => {
                f.write_char('"')?;
                for c in text.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        '\n' => f.write_str("\\n")?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('"')
            }
            TermKind::Unquoted(text) => write_unquoted(f, text, false),
            TermKind::Wildcard(pattern) => {
                for (i, part) in pattern.parts().iter().enumerate() {
                    if i > 0 {
                        f.write_char('*')?;
                    }
                    write_unquoted(f, part, true)?;
                }
                Ok(())
            }
        }
    }
}

/// Writes unquoted text so that it reads back as the same characters: special characters,
/// whitespace escapes and any `or`/`and`/`not` the grammar would take as a keyword are escaped.
fn write_unquoted(f: &mut Formatter<'_>, text: &str, in_pattern: bool) -> fmt::Result {
    if text.is_empty() && !in_pattern {
        // An unquoted value that trims to nothing (`a:\t`) can only be written with an escape.
        return f.write_str("\\t");
    }
    let is_space = |c: Option<char>| matches!(c, Some(' ' | '\t' | '\r' | '\n' | '\u{a0}'));
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let word_at = |w: &str| {
            let len = w.len();
            i + len <= chars.len() && chars[i..i + len].iter().collect::<String>().eq_ignore_ascii_case(w)
        };
        let before_space = |len: usize| is_space(chars.get(i + len).copied());
        let after_space = i > 0 && is_space(chars.get(i - 1).copied());
        let keyword = if word_at("not") && before_space(3) {
            Some(3)
        } else if after_space && word_at("and") && before_space(3) {
            Some(3)
        } else if after_space && word_at("or") && before_space(2) {
            Some(2)
        } else {
            None
        };
        if let Some(len) = keyword {
            // `\not` would read as the whitespace escape `\n` followed by `ot`, so an `n` is
            // written as `\u006e` instead; `\or`, `\and` and `\Not` are keyword escapes.
            if chars[i] == 'n' {
                f.write_str("\\u006e")?;
            } else {
                f.write_char('\\')?;
                f.write_char(chars[i])?;
            }
            for k in &chars[i + 1..i + len] {
                f.write_char(*k)?;
            }
            i += len;
            continue;
        }
        match c {
            '\\' | '(' | ')' | ':' | '<' | '>' | '"' | '*' | '{' | '}' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\n' => f.write_str("\\n")?,
            c => f.write_char(c)?,
        }
        i += 1;
    }
    Ok(())
}
