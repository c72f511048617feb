//! The parser: what each construct becomes, how it prints, and errors with a caret.

use eql::{ExprKind, MatchKind, QueryKind};

fn round_trip(text: &str, printed: &str) {
    let query = eql::parse(text).unwrap_or_else(|e| panic!("{}", e.snippet(text, "query")));
    assert_eq!(query.to_string(), printed, "{text}");
    assert_eq!(eql::parse(printed).expect("printed parses"), query, "{printed}");
}

#[test]
fn event_queries_print_canonically() {
    for (text, printed) in [
        ("process where true", "process where true"),
        ("any   where\n  process.name == \"cmd.exe\"", "any where process.name == \"cmd.exe\""),
        ("\"my-category\" where x", "\"my-category\" where x"),
        ("process where a == 1 and b != 2 or not c < 3", "process where a == 1 and b != 2 or not c < 3"),
        ("process where a and (b or c)", "process where a and (b or c)"),
        ("process where not (a and b)", "process where not (a and b)"),
        ("process where (a == 1)", "process where a == 1"),
        ("file where 1 + 2 * 3 - -4 % 2 > x", "file where 1 + 2 * 3 - -4 % 2 > x"),
        ("file where (1 + 2) * 3 == x", "file where (1 + 2) * 3 == x"),
        ("file where x == 1.5 and y == 1e3 and z == .5", "file where x == 1.5 and y == 1000.0 and z == 0.5"),
        ("file where name : \"*.EXE\"", "file where name : \"*.EXE\""),
        ("file where name : (\"a*\", \"b?\")", "file where name : (\"a*\", \"b?\")"),
        (
            "file where name like~ \"a*\" and name regex \"[a-z]+\"",
            "file where name like~ \"a*\" and name regex \"[a-z]+\"",
        ),
        ("file where name regex~ (\"a\", \"b\")", "file where name regex~ (\"a\", \"b\")"),
        (
            "file where name in (\"a\", \"b\") and x not in~ (\"c\")",
            "file where name in (\"a\", \"b\") and x not in~ (\"c\")",
        ),
        ("file where not name in (\"a\")", "file where not name in (\"a\")"),
        (
            "file where startsWith~(name, \"a\") and length(x) > 3",
            "file where startsWith~(name, \"a\") and length(x) > 3",
        ),
        ("file where ?user.id != null", "file where ?user.id != null"),
        ("file where `my-field`.`a``b` == \"x\"", "file where `my-field`.`a``b` == \"x\""),
        ("file where @timestamp > 0", "file where @timestamp > 0"),
        ("file where x == \"\"\"C:\\raw \" string\"\"\"", "file where x == \"C:\\\\raw \\\" string\""),
        ("file where x == \"tab\\t \\u{1F600} \\\" \\\\\"", "file where x == \"tab\\t \u{1F600} \\\" \\\\\""),
        ("file where true // a comment\n and /* a /* nested */ one */ false", "file where true and false"),
        ("process where true | head 5 | tail 1", "process where true | head 5 | tail 1"),
    ] {
        round_trip(text, printed);
    }
}

#[test]
fn sequences_and_samples() {
    round_trip(
        "sequence by host.id, user.name with maxspan=5m\n [process where true] by process.pid\n ![network where true]\n [file where x] with runs=3\nuntil [process where event.type == \"end\"]",
        "sequence by host.id, user.name with maxspan=5m [process where true] by process.pid ![network where true] [file where x] with runs=3 until [process where event.type == \"end\"]",
    );
    round_trip(
        "sample by host.id [file where true] [process where true]",
        "sample by host.id [file where true] [process where true]",
    );
    let query = eql::parse("sequence with maxspan=30s [a where true] [b where true] by x with runs=2").expect("parses");
    let QueryKind::Sequence(seq) = query.kind else { panic!("a sequence") };
    assert_eq!(seq.maxspan.map(|m| m.millis), Some(30_000));
    assert_eq!((seq.terms[1].runs, seq.terms[1].by.len(), seq.terms[0].by.len()), (2, 1, 0));
}

#[test]
fn operators_become_their_nodes() {
    let query = eql::parse("any where x : \"A*\"").expect("parses");
    let QueryKind::Event(filter) = query.kind else { panic!("an event query") };
    assert!(filter.category.is_none());
    let ExprKind::Match { kind, insensitive, patterns, .. } = filter.condition.kind else { panic!("a match") };
    assert_eq!((kind, insensitive, patterns.len()), (MatchKind::Colon, true, 1));
    // `AND` is not a keyword in Elasticsearch: it is a field name, and then the query is wrong.
    assert!(eql::parse("any where a == 1 AND b == 2").is_err());
}

#[test]
fn errors_point_at_the_spot() {
    for (text, message, at) in [
        ("process where", "expected a field, value, function or `(`, found end of query", 13),
        ("process where x = 1", "expected `|` or end of query, found `=`", 16),
        ("process where x == 'a'", "expected a double-quoted string, found `'`", 19),
        ("process where x == \"a", "this string is not closed with `\"` on its line", 19),
        (
            "process where x == \"\\q\"",
            "`\\q` is not an escape EQL knows (`\\n \\r \\t \\b \\f \\\" \\' \\\\ \\u{hex}`)",
            20,
        ),
        ("process where a < b < c", "comparisons do not chain; join them with `and`", 20),
        ("where x", "expected an event category or `any`, found `where`", 0),
        ("sequence [a where true]", "expected a term `[...]`, found end of query", 23),
        ("sequence [a where true] ![b where true]", "a sequence with missing events (`![`) needs `with maxspan`", 24),
        (
            "sequence with maxspan=5 [a where true] [b where true]",
            "`maxspan` needs a unit right after its number: `ms`, `s`, `m`, `h` or `d`",
            22,
        ),
        (
            "sequence with maxspan=5m by x [a where true] [b where true]",
            "`sequence by` comes before `with maxspan`, not after",
            25,
        ),
        ("sequence [a where true] [b where true] with runs=0", "`runs` must be between 1 and 100, not 0", 49),
        ("sample by x [a where true] ![b where true]", "missing events (`![`) belong to sequences, not samples", 27),
        ("file where x : y", "expected a string, number or `true`, `false` or `null`, found `y`", 15),
        ("file where x[0] == 1", "array indexes in field names (`field[0]`) are not supported", 12),
    ] {
        let err = eql::parse(text).expect_err(text);
        assert_eq!((err.to_string().as_str(), err.span().start), (message, at), "{text}");
    }
    let text = "sequence by host.id\n  [process where x =]\n  [file where true]";
    let err = eql::parse(text).expect_err("bad");
    assert_eq!(
        err.snippet(text, "rule.toml"),
        "error: expected `]`, found `=`\n --> rule.toml:2:20\n  |\n2 |   [process where x =]\n  |                    ^ here\n  = help: compare with `==` (case-sensitive) or `:` (not)\n"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("any where {}x{}", "(".repeat(100), ")".repeat(100));
    let err = eql::parse(&deep).expect_err("too deep");
    assert_eq!(err.to_string(), format!("the query nests deeper than {} levels", eql::MAX_DEPTH));
    let nots = format!("any where {}x", "not ".repeat(100));
    assert!(eql::parse(&nots).is_err());
}
