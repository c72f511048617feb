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

/// Binding strength, loosest first: `or` 0, `and` 1, `not` 2, anything else 3.
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

/// Writes `items` joined by ` or ` (`parent` 0) or ` and ` (1). A child binding as loosely as
/// its parent or looser is parenthesized, so `(a and b) and c` keeps its shape.
fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T], parent: u8, strength: impl Fn(&T) -> u8) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(if parent == 0 { " or " } else { " and " })?;
        }
        if strength(item) <= parent { write!(f, "({item})")? } else { write!(f, "{item}")? }
    }
    Ok(())
}

/// Writes `not x`; `not` takes a single clause or value, so anything else is parenthesized.
fn write_not<T: Display>(f: &mut Formatter<'_>, inner: &T, strength: u8) -> fmt::Result {
    if strength < 3 { write!(f, "not ({inner})") } else { write!(f, "not {inner}") }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let of = |e: &Expr| strength(&e.kind);
        match &self.kind {
            ExprKind::Or(items) => write_list(f, items, 0, of),
            ExprKind::And(items) => write_list(f, items, 1, of),
            ExprKind::Not(inner) => write_not(f, inner, of(inner)),
            ExprKind::Nested { field, query } => write!(f, "{}:{{{query}}}", Value(field)),
            ExprKind::Range { field, op, value } => write!(f, "{} {} {}", Value(field), op.as_str(), Value(value)),
            ExprKind::Match { field: Some(field), value } => field_values(field, value).fmt(f),
            ExprKind::Match { field: None, value } => write!(f, "{value}"),
        }
    }
}

impl Display for ValueExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let of = |v: &ValueExpr| value_strength(&v.kind);
        match &self.kind {
            ValueExprKind::Or(items) => write_list(f, items, 0, of),
            ValueExprKind::And(items) => write_list(f, items, 1, of),
            ValueExprKind::Not(inner) => write_not(f, inner, of(inner)),
            ValueExprKind::Term(term) => Value(term).fmt(f),
        }
    }
}

/// `field:value` or `field:(value list)`, as printed.
pub(crate) fn field_values<'a>(field: &'a Term, value: &'a ValueExpr) -> impl Display + 'a {
    struct FieldValues<'a>(&'a Term, &'a ValueExpr);
    impl Display for FieldValues<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            match &self.1.kind {
                ValueExprKind::Term(term) => write!(f, "{}:{}", Value(self.0), Value(term)),
                _ => write!(f, "{}:({})", Value(self.0), self.1),
            }
        }
    }
    FieldValues(field, value)
}

/// A term as written in field or value position (the grammar is the same for both).
struct Value<'a>(&'a Term);

impl Display for Value<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            TermKind::Quoted(text) => write_quoted(f, text),
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

fn write_quoted(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
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

/// `text` as a KQL quoted string, which reads back as exactly these characters (a phrase, for
/// queries built from values: exceptions, related events).
pub fn quote(text: &str) -> String {
    struct Quoted<'a>(&'a str);
    impl Display for Quoted<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write_quoted(f, self.0)
        }
    }
    Quoted(text).to_string()
}

/// A field name as KQL reads it: special characters, whitespace and keywords escaped.
pub fn field_name(name: &str) -> String {
    struct Field<'a>(&'a str);
    impl Display for Field<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write_unquoted(f, self.0, false)
        }
    }
    Field(name).to_string()
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
        // The end of the text counts as a space: a separator (` or `) or ` <` may follow it.
        let before_space = |len: usize| i + len == chars.len() || is_space(chars.get(i + len).copied());
        let after_space = i > 0 && is_space(chars.get(i - 1).copied());
        // Kibana's `Keyword` lookahead: `not` + space anywhere, ` and ` and ` or ` between spaces.
        let keyword = if (word_at("not") || (after_space && word_at("and"))) && before_space(3) {
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
