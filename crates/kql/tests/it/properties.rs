//! Properties that hold for every query and document: printing round-trips, the prefilter never
//! drops a match, and no input makes the parser or matcher panic.

use ecs::{Catalog, Document};
use kql::{Expr, ExprKind, Query, RangeOp, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use proptest::prelude::*;
use serde_json::{Value, json};

fn is_trimmed(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Characters worth mixing: KQL specials, spaces of every kind, letters that spell keywords.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => prop::sample::select(vec!['o', 'r', 'n', 't', 'a', 'd', 'O', 'R', 'N', 'T', 'A', 'D', 'u']),
        2 => prop::sample::select(vec![' ', ' ', '\t', '\n', '\r', '\u{a0}', '\u{2003}', '\u{feff}']),
        2 => prop::sample::select(vec!['\\', '(', ')', ':', '<', '>', '"', '{', '}', '?', '.', '-', '/', '\'']),
        1 => any::<char>(),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
}

/// Text an unquoted literal can hold: the parser trims what JavaScript's `trim` removes.
fn unquoted(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_map(|s| s.trim_matches(is_trimmed).to_owned())
}

fn term() -> impl Strategy<Value = Term> {
    let kind = prop_oneof![
        text(12).prop_map(TermKind::Quoted),
        unquoted(12).prop_map(TermKind::Unquoted),
        (unquoted(6), prop::collection::vec(text(6), 0..3), unquoted(6)).prop_map(|(first, middle, last)| {
            let mut parts = vec![first];
            parts.extend(middle);
            parts.push(last);
            TermKind::Wildcard(Wildcard::new(parts))
        }),
    ];
    kind.prop_map(|kind| Term { kind, span: Default::default() })
}

fn value_expr() -> impl Strategy<Value = ValueExpr> {
    let leaf = term().prop_map(|t| ValueExpr { kind: ValueExprKind::Term(t), span: Default::default() });
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(ValueExprKind::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(ValueExprKind::And),
            inner.prop_map(|v| ValueExprKind::Not(Box::new(v))),
        ]
        .prop_map(|kind| ValueExpr { kind, span: Default::default() })
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let op = prop::sample::select(vec![RangeOp::Lt, RangeOp::Lte, RangeOp::Gt, RangeOp::Gte]);
    let leaf = prop_oneof![
        (term(), value_expr()).prop_map(|(field, value)| ExprKind::Match { field: Some(field), value }),
        term().prop_map(|t| ExprKind::Match {
            field: None,
            value: ValueExpr { kind: ValueExprKind::Term(t), span: Default::default() },
        }),
        (term(), op, term()).prop_map(|(field, op, value)| ExprKind::Range { field, op, value }),
    ]
    .prop_map(|kind| Expr { kind, span: Default::default() });
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(ExprKind::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(ExprKind::And),
            inner.clone().prop_map(|e| ExprKind::Not(Box::new(e))),
            (term(), inner).prop_map(|(field, q)| ExprKind::Nested { field, query: Box::new(q) }),
        ]
        .prop_map(|kind| Expr { kind, span: Default::default() })
    })
}

/// Values as a query writes them and as a document holds them, so that queries often match.
const VOCABULARY: &[(&str, &str)] = &[
    ("x", r#""x""#),
    ("X", r#""X""#),
    ("\"a b\"", r#""a b""#),
    ("a b", r#""a b""#),
    (r#""a\"b""#, r#""a\"b""#),
    (r"a\\b", r#""a\\b""#),
    ("é", r#""é""#),
    ("a/b", r#""a/b""#),
    ("x*", r#""xy""#),
    ("*b", r#""a/b""#),
    ("*", r#""""#),
    ("10.0.0.0/8", r#""10.0.0.1""#),
    ("true", "true"),
    ("1", "1"),
    ("\"\"", r#""""#),
    ("tab\\there", r#""tab\there""#),
];
const FIELDS: &[&str] = &["a", "b", "a.b", "message", "source.ip", "a.*"];

fn json_value() -> impl Strategy<Value = Value> {
    let scalar = prop::sample::select(VOCABULARY)
        .prop_map(|(_, json)| serde_json::from_str::<Value>(json).expect("vocabulary JSON"));
    let value = prop_oneof![3 => scalar.clone(), 1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array)];
    // Keys spelled as dotted names or as nested objects.
    let entry =
        (prop::sample::select(&FIELDS[..5]), any::<bool>(), value).prop_map(|(field, dotted, value)| {
            match field.split_once('.') {
                Some((head, tail)) if !dotted => (head.to_owned(), json!({ tail: value })),
                _ => (field.to_owned(), value),
            }
        });
    prop::collection::vec(entry, 1..5).prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

/// One to three clauses joined by `and`, `or` and `and not`.
fn joined(clause: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = String> {
    prop::collection::vec(clause, 1..4).prop_flat_map(|clauses| {
        prop::collection::vec(prop::sample::select(vec![" and ", " or ", " and not "]), clauses.len()).prop_map(
            move |ops| {
                let mut q = clauses[0].clone();
                for (clause, op) in clauses[1..].iter().zip(ops) {
                    q.push_str(op);
                    q.push_str(clause);
                }
                q
            },
        )
    })
}

fn vocabulary_query() -> impl Strategy<Value = String> {
    let clause =
        (prop::sample::select(FIELDS), prop::sample::select(VOCABULARY)).prop_map(|(f, (v, _))| format!("{f}:{v}"));
    joined(clause)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printing_round_trips(root in expr()) {
        let query = Query::from_root(Some(root));
        let printed = query.to_string();
        let parsed = kql::parse(&printed);
        prop_assert!(parsed.is_ok(), "{printed:?} does not parse: {:?}", parsed.err());
        prop_assert_eq!(parsed.ok(), Some(query), "printed as {:?}", printed);
    }

    #[test]
    fn parsing_never_panics_and_printing_is_stable(text in text(40)) {
        if let Ok(query) = kql::parse(&text) {
            let printed = query.to_string();
            let again = kql::parse(&printed).expect("a printed query parses");
            prop_assert_eq!(&again, &query);
            let catalog = Catalog::builtin();
            let _ = query.to_dsl(catalog);
            let _ = query.required_literals(catalog);
            if let Ok(matcher) = query.compile(catalog) {
                let _ = matcher.matches(&Document::new(json!({"a": text, "message": [1, {"b": null}]})));
            }
        }
    }

    #[test]
    fn prefilter_never_drops_a_match(query in vocabulary_query(), doc in json_value()) {
        let query = kql::parse(&query).expect("vocabulary queries parse");
        for catalog in [Catalog::builtin(), &Catalog::empty()] {
            let Ok(matcher) = query.compile(catalog) else { continue };
            let document = Document::new(doc.clone());
            if matcher.matches(&document) {
                let line = serde_json::to_string(&doc).expect("serializable");
                prop_assert!(query.required_literals(catalog).may_match(line.as_bytes()), "{query} matches {line} but the prefilter drops it");
            }
        }
    }

    #[test]
    fn decoding_only_the_fields_read_gives_the_same_answer(query in vocabulary_query(), doc in json_value()) {
        let query = kql::parse(&query).expect("vocabulary queries parse");
        prop_assume!(!query.reads_any_field());
        let names = query.field_names();
        let projection = ecs::Projection::new(names.iter().map(String::as_str));
        let line = serde_json::to_string(&doc).expect("serializable");
        let projected = Document::parse_projected(line.as_bytes(), &projection).expect("valid JSON");
        for catalog in [Catalog::builtin(), &Catalog::empty()] {
            let Ok(matcher) = query.compile(catalog) else { continue };
            prop_assert_eq!(matcher.matches(&projected), matcher.matches(&Document::new(doc.clone())), "{} on {}", query, line);
        }
    }
}

/// Typed fields whose values and ranges the prefilter checks next to their keys.
const TYPED_FIELDS: &[&str] = &[
    "event.action",
    "event.outcome",
    "o365.audit.Parameters.Enabled",
    "event.severity",
    "host.cpu.usage",
    "process.pid",
];

/// JSON values for typed fields: strings, numbers written every way, and what is neither.
const TYPED_VALUES: &[&str] = &[
    r#""MailItemsAccessed""#,
    r#""False""#,
    r#""a b""#,
    r#""a\"b""#,
    r#""100""#,
    r#"" 99 ""#,
    "100",
    "99",
    "99.5",
    "100.7",
    "1e2",
    "-5",
    "true",
    "null",
    r#"{"x": 1}"#,
];

fn typed_document() -> impl Strategy<Value = Value> {
    let scalar = prop::sample::select(TYPED_VALUES).prop_map(|json| serde_json::from_str::<Value>(json).expect("JSON"));
    let value = prop_oneof![4 => scalar.clone(), 1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array)];
    let entry = (prop::sample::select(TYPED_FIELDS), 0..3usize, value).prop_map(|(field, split, value)| {
        // The name as one dotted key, nested objects, or a mix.
        let parts: Vec<&str> = field.split('.').collect();
        let at = split.min(parts.len() - 1);
        let (head, tail) = (parts[..=at].join("."), parts[at + 1..].join("."));
        if tail.is_empty() { (head, value) } else { (head, json!({ tail: value })) }
    });
    prop::collection::vec(entry, 1..4).prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

fn typed_query() -> impl Strategy<Value = String> {
    let value = prop::sample::select(vec!["MailItemsAccessed", "False", "\"a b\"", r#""a\"b""#, "100", "99.5"]);
    let op = prop::sample::select(vec![":", " >= ", " > ", " < ", " <= "]);
    let clause = (prop::sample::select(TYPED_FIELDS), op, value).prop_map(|(f, op, v)| format!("{f}{op}{v}"));
    joined(clause)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Keyed alternatives (a keyword's value next to its key, a number in range next to its
    /// key) never drop a match, compact or pretty-printed.
    #[test]
    fn keyed_prefilter_never_drops_a_match(query in typed_query(), doc in typed_document()) {
        let Ok(query) = kql::parse(&query) else { return Ok(()) };
        let catalog = Catalog::builtin();
        let Ok(matcher) = query.compile(catalog) else { return Ok(()) };
        if matcher.matches(&Document::new(doc.clone())) {
            let literals = query.required_literals(catalog);
            for line in [serde_json::to_string(&doc), serde_json::to_string_pretty(&doc)] {
                let line = line.expect("serializable");
                prop_assert!(literals.may_match(line.as_bytes()), "{query} matches {line} but the prefilter drops it");
            }
        }
    }
}

#[test]
fn keyed_alternatives_leave_out_what_a_literal_alone_keeps() {
    let catalog = Catalog::builtin();
    let query = kql::parse("event.action:MailItemsAccessed and event.severity >= 100").expect("parses");
    let literals = query.required_literals(catalog);
    assert!(literals.may_match(br#"{"event":{"action":"MailItemsAccessed","severity":150}}"#));
    assert!(!literals.may_match(br#"{"event":{"action":"MailItemsAccessed","severity":99}}"#));
    assert!(!literals.may_match(br#"{"event":{"action":"MailItemsAccessedX","severity":150}}"#));
    assert!(!literals.may_match(br#"{"event":{"x":"MailItemsAccessed","action":"y","severity":150}}"#));
    assert!(literals.may_match(br#"{"event.action": "MailItemsAccessed", "event.severity": "150"}"#));
    assert!(literals.may_match(br#"{"event":{"action":["y","MailItemsAccessed"],"severity":[1,150]}}"#));
    // A branch of an `or` holds when all its clauses do, not only its most selective one.
    let query = kql::parse(
        "event.action:A and ((event.outcome:IsThrottled and o365.audit.Parameters.Enabled:True) or event.severity >= 100)",
    )
    .expect("parses");
    let literals = query.required_literals(catalog);
    let line = |enabled: &str, severity: u32| {
        format!(
            r#"{{"event":{{"action":"A","outcome":"IsThrottled","severity":{severity}}},"o365.audit.Parameters.Enabled":"{enabled}"}}"#
        )
    };
    assert!(!literals.may_match(line("False", 4).as_bytes()));
    assert!(literals.may_match(line("True", 4).as_bytes()));
    assert!(literals.may_match(line("False", 100).as_bytes()));
    // A long field truncates 100.7 to 100, which is <= 100.
    let query = kql::parse("event.severity <= 100").expect("parses");
    let line = br#"{"event":{"severity":100.7}}"#;
    assert!(query.compile(catalog).expect("compiles").matches(&Document::parse_bytes(line).expect("JSON")));
    assert!(query.required_literals(catalog).may_match(line));
}

/// [`kql::has_case_hazard`] knows every character that is not ASCII but lower-cases to text
/// holding ASCII: a case-insensitive comparison could find a literal there that a search in any
/// ASCII case misses, so a line with one must stay a candidate.
#[test]
fn the_case_hazards_are_all_of_unicodes() {
    for c in (0x80..=0x10FFFF).filter_map(char::from_u32) {
        if c.to_lowercase().any(|l| l.is_ascii()) {
            let line = format!("{{\"a\":\"x{c}y\"}}");
            assert!(kql::has_case_hazard(line.as_bytes()), "{c:?} (U+{:04X}) lower-cases to ASCII", c as u32);
        }
    }
    assert!(!kql::has_case_hazard("{\"a\":\"“Öre” ĳ İstanbul\"}".replace('İ', "I").as_bytes()));
}
