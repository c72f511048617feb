//! From syntax to a matcher: field types from the catalog, values parsed once.

use ecs::date::{DateMath, Timestamp};
use ecs::{Catalog, Field, FieldType, Path};

use crate::ast::{Expr, ExprKind, Query, RangeOp, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use crate::error::{Error, ErrorKind};
use crate::matcher::{Alt, Bound, FreeText, Matcher, Node, Test, parse_ip, parse_number, whole};
use crate::span::Span;
use crate::text;

impl Query {
    /// Compiles the query against the catalog's field types, with date math relative to now.
    ///
    /// # Errors
    ///
    /// When a value does not fit its field's type, as Elasticsearch would reject the query
    /// (`event.risk_score:high`, a wildcard on a number, `field:{...}` on a keyword).
    pub fn compile<'c>(&self, catalog: &'c Catalog) -> Result<Matcher<'c>, Error> {
        self.compile_at(catalog, Timestamp::now())
    }

    /// Compiles the query with date math (`now-1d`) resolved at `now`.
    ///
    /// # Errors
    ///
    /// As [`Query::compile`].
    pub fn compile_at<'c>(&self, catalog: &'c Catalog, now: Timestamp) -> Result<Matcher<'c>, Error> {
        let compiler = Compiler { catalog, now };
        let root = match &self.root {
            Some(expr) => compiler.expr(expr, "")?,
            None => Node::All,
        };
        Ok(Matcher { root, query: self.clone(), catalog })
    }
}

/// A field reference resolved against the catalog.
pub(crate) struct Resolved {
    /// The catalog fields (or the one unknown field) the name stands for, with the document
    /// path (relative to the nested context) each reads its value from.
    pub(crate) targets: Vec<(Option<Field>, String, String)>,
    /// For a wildcard name: the pattern, relative to the nested context, to find unmapped fields.
    pub(crate) pattern: Option<Wildcard>,
}

/// Resolves a field name written in the query, inside the nested context `prefix` (`""` or
/// `path.`): a plain name is one field; a wildcard name is every catalog field it matches.
pub(crate) fn resolve(field: &Term, prefix: &str, catalog: &Catalog) -> Resolved {
    let relative_source = |f: &Field| f.source().strip_prefix(prefix).unwrap_or(f.source()).to_owned();
    match &field.kind {
        TermKind::Wildcard(pattern) => {
            let mut parts = pattern.parts().to_vec();
            parts[0].insert_str(0, prefix);
            let full = Wildcard::new(parts);
            let targets = catalog
                .fields_matching(|name| full.matches(name))
                .into_iter()
                .filter(|f| !matches!(f.ty(), FieldType::Object | FieldType::Nested))
                .map(|f| (Some(f.clone()), f.name().to_owned(), relative_source(f)))
                .collect();
            Resolved { targets, pattern: Some(pattern.clone()) }
        }
        _ => {
            let name = field.text();
            let full = format!("{prefix}{name}");
            let known = catalog.get(&full);
            let path = known.as_ref().map_or_else(|| name.to_string(), relative_source);
            Resolved { targets: vec![(known, full, path)], pattern: None }
        }
    }
}

struct Compiler<'c> {
    catalog: &'c Catalog,
    now: Timestamp,
}

/// A value that does not fit the field; the span is the value's (callers pass it through [`at`]).
fn invalid(field: &str, ty: FieldType, value: &Term, expected: &'static str) -> Error {
    let value = format!("`{}`", value.text());
    Error::new(ErrorKind::InvalidValue { field: field.to_owned(), ty: ty.as_str(), value, expected }, Span::default())
}

impl Compiler<'_> {
    fn expr(&self, expr: &Expr, prefix: &str) -> Result<Node, Error> {
        Ok(match &expr.kind {
            ExprKind::Or(items) => Node::Or(self.exprs(items, prefix)?),
            ExprKind::And(items) => Node::And(self.exprs(items, prefix)?),
            ExprKind::Not(inner) => Node::Not(Box::new(self.expr(inner, prefix)?)),
            ExprKind::Nested { field, query } => {
                let name = field.text();
                let full = format!("{prefix}{name}");
                if let Some(known) = self.catalog.get(&full)
                    && !matches!(known.ty(), FieldType::Object | FieldType::Nested)
                {
                    return Err(Error::new(ErrorKind::NotNested { field: full, ty: known.ty().as_str() }, field.span));
                }
                let inner = self.expr(query, &format!("{full}."))?;
                Node::Nested { path: Path::new(&name), inner: Box::new(inner) }
            }
            ExprKind::Range { field, op, value } => {
                let resolved = resolve(field, prefix, self.catalog);
                let mut nodes = Vec::new();
                for (known, full, path) in &resolved.targets {
                    let test = match self.range_test(known.as_ref(), full, *op, value) {
                        Ok(test) => test,
                        Err(_) if resolved.pattern.is_some() => Test::Never,
                        Err(e) => return Err(at(e, value.span)),
                    };
                    nodes.push(Node::Values { path: Path::new(path), test });
                }
                if let Some(pattern) = resolved.pattern {
                    let test = Test::Range { op: *op, bound: dynamic_bound(&value.text()) };
                    nodes.push(leaves(pattern, &resolved.targets, test));
                }
                one_or_any(nodes)
            }
            ExprKind::Match { field: Some(field), value } => self.values(field, value, prefix)?,
            ExprKind::Match { field: None, value } => self.free_text(value, prefix)?,
        })
    }

    fn exprs(&self, items: &[Expr], prefix: &str) -> Result<Vec<Node>, Error> {
        items.iter().map(|e| self.expr(e, prefix)).collect()
    }

    /// `field:value-list`: the list's boolean structure over one test per value.
    fn values(&self, field: &Term, value: &ValueExpr, prefix: &str) -> Result<Node, Error> {
        let each =
            |items: &[ValueExpr]| items.iter().map(|v| self.values(field, v, prefix)).collect::<Result<Vec<_>, _>>();
        Ok(match &value.kind {
            ValueExprKind::Or(items) => Node::Or(each(items)?),
            ValueExprKind::And(items) => Node::And(each(items)?),
            ValueExprKind::Not(inner) => Node::Not(Box::new(self.values(field, inner, prefix)?)),
            ValueExprKind::Term(term) => {
                let is_star = |t: &Term| matches!(&t.kind, TermKind::Wildcard(w) if w.is_lone_star());
                if is_star(field) && is_star(term) {
                    return Ok(Node::All);
                }
                let resolved = resolve(field, prefix, self.catalog);
                let mut nodes = Vec::new();
                for (known, full, path) in &resolved.targets {
                    let test = match self.value_test(known.as_ref(), full, term) {
                        Ok(test) => test,
                        // A wildcard name reaches fields of every type; those that cannot hold
                        // the value are skipped rather than failing the query.
                        Err(_) if resolved.pattern.is_some() => Test::Never,
                        Err(e) => return Err(at(e, term.span)),
                    };
                    nodes.push(Node::Values { path: Path::new(path), test });
                }
                if let Some(pattern) = resolved.pattern {
                    let test = self.value_test(None, "", term).map_err(|e| at(e, term.span))?;
                    nodes.push(leaves(pattern, &resolved.targets, test));
                }
                one_or_any(nodes)
            }
        })
    }

    /// The test `field:term` runs on each value of a field of type `known` (`None`: unmapped);
    /// on the root of a `flattened` field, on each of its leaves.
    fn value_test(&self, known: Option<&Field>, full: &str, term: &Term) -> Result<Test, Error> {
        let test = self.leaf_test(known, full, term)?;
        Ok(if known.is_some_and(|f| f.ty() == FieldType::Flattened) { Test::Leaves(Box::new(test)) } else { test })
    }

    fn leaf_test(&self, known: Option<&Field>, full: &str, term: &Term) -> Result<Test, Error> {
        let ignore_above = known.and_then(Field::ignore_above);
        let Some(known) = known else { return Ok(dynamic_test(term)) };
        let ty = known.ty();
        let text = term.text();
        if let TermKind::Wildcard(pattern) = &term.kind {
            if pattern.is_lone_star() {
                return Ok(Test::Exists { ignore_above, ty: Some(ty) });
            }
            return Ok(match ty {
                t if t.is_keyword() || t == FieldType::Other => {
                    Test::KeywordAlts { alts: alternatives(pattern, false), ignore_above }
                }
                t if t.is_text() => Test::TextAlts { alts: alternatives(pattern, true) },
                _ => {
                    return Err(invalid(
                        full,
                        ty,
                        term,
                        "a value without `*` (wildcards work on keyword and text fields only)",
                    ));
                }
            });
        }
        if matches!(term.kind, TermKind::Unquoted(ref s) if s == "null") {
            return Ok(Test::Never);
        }
        Ok(match ty {
            t if t.is_keyword() || t == FieldType::Other => Test::Keyword { value: text.into_owned(), ignore_above },
            t if t.is_text() => {
                let tokens = text::tokens(&text);
                if tokens.is_empty() { Test::Never } else { Test::Text { tokens, phrase: term.is_quoted() } }
            }
            FieldType::Boolean => match text.as_ref() {
                "true" => Test::Bool(true),
                "false" => Test::Bool(false),
                _ => return Err(invalid(full, ty, term, "`true` or `false`")),
            },
            t if t.is_integer() => Test::Integer {
                want: whole(parse_number(&text).ok_or_else(|| invalid(full, ty, term, "a number"))?),
                long: t == FieldType::Long,
            },
            FieldType::Float => Test::Float(parse_number(&text).ok_or_else(|| invalid(full, ty, term, "a number"))?),
            FieldType::Date | FieldType::DateNanos => {
                // Kibana turns `date:value` into `gte: value, lte: value`: a whole day for a day.
                let math = DateMath::parse(&text).map_err(|_| invalid(full, ty, term, "a date or date math"))?;
                let (from, to) = (math.resolve(self.now, false), math.resolve(self.now, true));
                match from.zip(to) {
                    Some((from, to)) => Test::DateSpan { from, to, nanos: ty == FieldType::DateNanos },
                    None => return Err(invalid(full, ty, term, "a date between the years 1677 and 2262")),
                }
            }
            FieldType::Ip => {
                let (net, prefix) =
                    parse_cidr(&text).ok_or_else(|| invalid(full, ty, term, "an IP address or CIDR block"))?;
                Test::Ip { net, prefix }
            }
            _ => Test::Never,
        })
    }

    fn range_test(&self, known: Option<&Field>, full: &str, op: RangeOp, term: &Term) -> Result<Test, Error> {
        let text = term.text();
        let Some(known) = known else { return Ok(Test::Range { op, bound: dynamic_bound(&text) }) };
        let ty = known.ty();
        let bound = match ty {
            t if t.is_keyword() || t == FieldType::Other => Bound::Keyword(text.into_owned()),
            t if t.is_text() => Bound::Text(text.into_owned()),
            t if t.is_integer() || t == FieldType::Float => Bound::Number {
                at: parse_number(&text).ok_or_else(|| invalid(full, ty, term, "a number"))?,
                long: t == FieldType::Long,
            },
            FieldType::Boolean => match text.as_ref() {
                "true" => Bound::Bool(true),
                "false" => Bound::Bool(false),
                _ => return Err(invalid(full, ty, term, "`true` or `false`")),
            },
            FieldType::Date | FieldType::DateNanos => {
                let math = DateMath::parse(&text).map_err(|_| invalid(full, ty, term, "a date or date math"))?;
                // `gt` and `lte` round up, `gte` and `lt` round down, as Elasticsearch does.
                let round_up = matches!(op, RangeOp::Gt | RangeOp::Lte);
                let at = math
                    .resolve(self.now, round_up)
                    .ok_or_else(|| invalid(full, ty, term, "a date between the years 1677 and 2262"))?;
                Bound::Date { at, nanos: ty == FieldType::DateNanos }
            }
            FieldType::Ip => Bound::Ip(parse_ip(&text).ok_or_else(|| invalid(full, ty, term, "an IP address"))?),
            _ => return Ok(Test::Never),
        };
        let test = Test::Range { op, bound };
        Ok(if ty == FieldType::Flattened { Test::Leaves(Box::new(test)) } else { test })
    }

    /// A value with no field: `multi_match` (or `query_string` for wildcards) over every field,
    /// leniently, so a value that does not fit a field's type simply does not match it.
    fn free_text(&self, value: &ValueExpr, prefix: &str) -> Result<Node, Error> {
        let ValueExprKind::Term(term) = &value.kind else {
            // The grammar only builds free text from a single value.
            return Ok(Node::All);
        };
        let typed = |ty: FieldType| {
            let field = Field::new("", ty);
            self.value_test(Some(&field), "", term).unwrap_or(Test::Never)
        };
        let terms = FreeText {
            keyword: typed(FieldType::Keyword),
            text: typed(FieldType::Text),
            dynamic: dynamic_test(term),
            boolean: typed(FieldType::Boolean),
            integer: typed(FieldType::Integer),
            long: typed(FieldType::Long),
            float: typed(FieldType::Float),
            ip: typed(FieldType::Ip),
            date: typed(FieldType::Date),
        };
        Ok(Node::FreeText { prefix: prefix.to_owned(), terms: Box::new(terms) })
    }
}

/// The test for a field the catalog does not type: the JSON value decides at match time.
fn dynamic_test(term: &Term) -> Test {
    let text = term.text().into_owned();
    match &term.kind {
        TermKind::Wildcard(pattern) if pattern.is_lone_star() => {
            Test::Exists { ignore_above: crate::matcher::DYNAMIC_IGNORE_ABOVE, ty: None }
        }
        TermKind::Wildcard(pattern) => {
            Test::Dynamic { text, number: None, boolean: None, alts: Some(alternatives(pattern, false)) }
        }
        TermKind::Unquoted(s) if s == "null" => Test::Never,
        _ => {
            let boolean = match text.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            };
            Test::Dynamic { number: parse_number(&text), boolean, text, alts: None }
        }
    }
}

fn dynamic_bound(text: &str) -> Bound {
    Bound::Dynamic { text: text.to_owned(), number: parse_number(text) }
}

/// A wildcard value as Elasticsearch's `query_string` reads Kibana's translation of it: split on
/// whitespace into terms that any one may match (`*S3 Browser*` is `*S3` or `Browser*`).
/// For text fields, terms are lower-cased and plain terms analyzed into tokens.
fn alternatives(pattern: &Wildcard, for_text: bool) -> Vec<Alt> {
    let mut alts = Vec::new();
    let mut current: Vec<String> = vec![String::new()];
    let flush = |current: &mut Vec<String>, alts: &mut Vec<Alt>| {
        let parts = std::mem::replace(current, vec![String::new()]);
        if parts.len() == 1 {
            if for_text {
                alts.extend(text::tokens(&parts[0]).into_iter().map(Alt::Exact));
            } else if !parts[0].is_empty() {
                alts.extend(parts.into_iter().map(Alt::Exact));
            }
        } else {
            let parts = if for_text { parts.into_iter().map(|p| p.to_lowercase()).collect() } else { parts };
            alts.push(Alt::Pattern(Wildcard::new(parts)));
        }
    };
    for (i, part) in pattern.parts().iter().enumerate() {
        if i > 0 {
            current.push(String::new());
        }
        for c in part.chars() {
            if text::is_query_string_space(c) {
                flush(&mut current, &mut alts);
            } else {
                current.last_mut().expect("current starts non-empty").push(c);
            }
        }
    }
    flush(&mut current, &mut alts);
    alts
}

/// `10.0.0.0/8`, `fe80::/10` or a single address: the network and its prefix length over the
/// IPv6 space (IPv4 networks are IPv4-mapped).
fn parse_cidr(text: &str) -> Option<(u128, u8)> {
    let Some((addr, len)) = text.split_once('/') else { return Some((parse_ip(text)?, 128)) };
    let len: u8 = len.parse().ok()?;
    let is_v4 = addr.parse::<std::net::Ipv4Addr>().is_ok();
    let prefix = if is_v4 { len.checked_add(96).filter(|_| len <= 32)? } else { Some(len).filter(|&l| l <= 128)? };
    Some((parse_ip(addr)?, prefix))
}

fn at(err: Error, span: Span) -> Error {
    if err.span() == Span::default() { Error::new(err.kind().clone(), span) } else { err }
}

/// One node as is, several as "any of them" (a wildcard field name), none as "nothing".
fn one_or_any(mut nodes: Vec<Node>) -> Node {
    match nodes.len() {
        1 => nodes.pop().expect("one node"),
        _ => Node::Or(nodes),
    }
}

/// The unmapped fields a wildcard name reaches: document leaves matching `pattern` that are not
/// among the catalog's `targets`.
fn leaves(pattern: Wildcard, targets: &[(Option<Field>, String, String)], test: Test) -> Node {
    let known = targets.iter().map(|(_, _, path)| path.clone()).collect();
    Node::Leaves { pattern, known, test }
}
