//! Error messages and positions, pinned as data (`tests/data/errors.toml`), and nesting limits.

use ecs::Catalog;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    query: String,
    error: String,
    at: String,
}

#[test]
fn errors_say_what_and_where() {
    let cases: Vec<Case> = crate::cases(include_str!("../data/errors.toml"));
    let mut failures = Vec::new();
    for case in &cases {
        let result = kql::parse(&case.query).and_then(|q| q.compile(Catalog::builtin()).map(|_| ()));
        match result {
            Ok(()) => failures.push(format!("{:?} was accepted", case.query)),
            Err(err) => {
                let (line, col) = err.span().line_col(&case.query);
                let got = (err.to_string(), format!("{line}:{col}"));
                if got != (case.error.clone(), case.at.clone()) {
                    failures.push(format!("{:?}: got {:?} at {}", case.query, got.0, got.1));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}a:b{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = kql::parse(&deep).unwrap_err();
    assert_eq!(err.to_string(), format!("the query nests deeper than {} levels", kql::MAX_DEPTH));
    let nested = format!("{}x:1{}", "a:{".repeat(500), "}".repeat(500));
    assert!(kql::parse(&nested).is_err());
    let values = format!("a:{}b{}", "(".repeat(500), ")".repeat(500));
    assert!(kql::parse(&values).is_err());
    let ok = format!("{}a:b{}", "(".repeat(kql::MAX_DEPTH), ")".repeat(kql::MAX_DEPTH));
    assert!(kql::parse(&ok).is_ok());
}

#[test]
fn long_runs_of_spaces_parse_in_linear_time() {
    // Each space of an unquoted value checks for ` or `/` and `; runs are measured once.
    let query = format!("message:a{}b", " ".repeat(1_000_000 / 4));
    assert_eq!(kql::parse(&query).map(|q| q.to_string().len()).ok(), Some(query.len()));
}
