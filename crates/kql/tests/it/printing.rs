//! The canonical printer, pinned as data (`tests/data/print.toml`).

use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    query: String,
    canonical: String,
}

#[test]
fn canonical_forms_print_and_parse_back() {
    let cases: Vec<Case> = crate::cases(include_str!("../data/print.toml"));
    let mut failures = Vec::new();
    for case in &cases {
        let query = kql::parse(&case.query).expect("test queries parse");
        let printed = query.to_string();
        if printed != case.canonical {
            failures.push(format!("{:?} printed as {printed:?}, expected {:?}", case.query, case.canonical));
        }
        if kql::parse(&printed).ok().as_ref() != Some(&query) {
            failures.push(format!("{printed:?} does not parse back to the same query"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_value_ending_in_a_keyword_is_escaped_before_a_separator() {
    // Found by `printing_round_trips`: `*NOt` followed by ` or ` reads as `not`.
    let query = kql::parse(r#"a:(b\NOt or c \or or d \and)"#).expect("parses");
    assert_eq!(query.to_string(), r#"a:(b\NOt or c \or or d \and)"#);
}
