//! Matching documents: Elasticsearch's semantics for each operator, function and missing field.

use serde_json::json;

/// Whether the query matches the document; when it does, the literals the prefilter looks for
/// must be in the document's line too (the prefilter never drops a match).
fn matches(query: &str, doc: &serde_json::Value) -> bool {
    let catalog = ecs::Catalog::builtin();
    let parsed = eql::parse(query).unwrap_or_else(|e| panic!("{}", e.snippet(query, "query")));
    let eql::QueryKind::Event(filter) = &parsed.kind else { panic!("an event query") };
    let matcher = filter.compile(catalog, "event.category").expect("compiles");
    let matched = matcher.matches(&ecs::Document::new(doc.clone()));
    if matched {
        let line = doc.to_string();
        let literals = filter.literals(catalog, "event.category", &|_| ecs::Copied::ValueAndName);
        assert!(literals.may_match(line.as_bytes()), "{query}: literals {:?} not in {line}", literals.clauses());
    }
    matched
}

fn check(doc: serde_json::Value, cases: &[(&str, bool)]) {
    for (query, expected) in cases {
        assert_eq!(matches(query, &doc), *expected, "{query} on {doc}");
    }
}

#[test]
fn categories() {
    let doc = json!({"event": {"category": ["process", "network"]}, "process": {"name": "cmd.exe"}});
    check(
        doc,
        &[
            ("process where true", true),
            ("network where true", true),
            ("file where true", false),
            ("Process where true", false),
            ("any where true", true),
            ("any where false", false),
            ("\"process\" where process.name == \"cmd.exe\"", true),
        ],
    );
    check(json!({"process": {"name": "cmd.exe"}}), &[("process where true", false), ("any where true", true)]);
}

#[test]
fn equality_and_patterns() {
    let doc = json!({"event": {"category": "process"}, "process": {
        "name": "CMD.exe", "executable": "C:\\Windows\\System32\\cmd.exe", "args": ["cmd.exe", "/c", "whoami"]}});
    check(
        doc,
        &[
            ("process where process.name == \"CMD.exe\"", true),
            ("process where process.name == \"cmd.exe\"", false),
            ("process where process.name : \"cmd.exe\"", true),
            ("process where process.name : \"c?d.*\"", true),
            ("process where process.name : \"c?.exe\"", false),
            ("process where process.name == \"CMD*\"", false),
            ("process where process.name like \"CMD*\"", true),
            ("process where process.name like \"cmd*\"", false),
            ("process where process.name like~ \"cmd*\"", true),
            ("process where process.executable : \"?:\\\\windows\\\\system32\\\\*\"", true),
            ("process where process.executable : \"\"\"C:\\Windows\\*\"\"\"", true),
            ("process where process.name regex \"C[A-Z]+\\\\.exe\"", true),
            ("process where process.name regex \"CMD\"", false),
            ("process where process.name regex~ \"cmd\\\\.EXE\"", true),
            ("process where process.args : \"/C\"", true),
            ("process where process.args == \"/C\"", false),
            ("process where process.args in (\"whoami\", \"net\")", true),
            ("process where process.args in~ (\"WHOAMI\")", true),
            ("process where process.args in (\"WHOAMI\")", false),
            ("process where process.name not in (\"x\", \"y\")", true),
            ("process where process.name : (\"a\", \"cmd*\")", true),
            ("process where process.name != \"CMD.exe\"", false),
            ("process where \"CMD.exe\" == process.name", true),
        ],
    );
}

#[test]
fn missing_fields_follow_the_query_dsl_and_scripts_follow_null() {
    let doc = json!({"event": {"category": "process"}, "process": {"name": "cmd.exe"}});
    check(
        doc,
        &[
            // Query leaves: true or false.
            ("process where user.name == \"x\"", false),
            ("process where user.name != \"x\"", true),
            ("process where not user.name == \"x\"", true),
            ("process where not user.name : \"x*\"", true),
            ("process where user.name == null", true),
            ("process where user.name != null", false),
            ("process where ?user.name == null", true),
            ("process where user.name < \"m\"", false),
            ("process where not user.name < \"m\"", true),
            ("process where user.name not in (\"a\")", true),
            // startsWith/endsWith/stringContains of a field are queries too.
            ("process where startsWith(user.name, \"a\")", false),
            ("process where not startsWith(user.name, \"a\")", true),
            ("process where not stringContains(user.name, \"a\")", true),
            // Scripts: null does not match, negated or not.
            ("process where length(user.name) > 3", false),
            ("process where not length(user.name) > 3", false),
            ("process where length(process.name) > 3", true),
            ("process where not length(process.name) > 30", true),
            ("process where startsWith(concat(user.name, \"x\"), \"x\")", false),
            ("process where not startsWith(concat(user.name, \"x\"), \"x\")", false),
            // ... but `not` over a `bool` query negates it whole.
            ("process where not (length(user.name) > 3 and process.name == \"cmd.exe\")", true),
        ],
    );
}

#[test]
fn types_from_the_catalog() {
    let doc = json!({"event": {"category": "network", "code": 4624}, "process": {"pid": "4", "args_count": 3},
        "source": {"ip": "192.168.1.20"}, "destination": {"ip": "2001:db8::1"}, "dll": {"code_signature": {"trusted": true}}});
    check(
        doc,
        &[
            ("network where event.code == \"4624\"", true),
            ("network where event.code == 4624", true),
            ("network where event.code : \"46*\"", true),
            ("network where process.pid == 4", true),
            ("network where process.pid >= 4 and process.pid < 5", true),
            ("network where process.pid > 10", false),
            ("network where process.pid == \"4\"", true),
            ("network where source.ip == \"192.168.0.0/16\"", true),
            ("network where source.ip == \"10.0.0.0/8\"", false),
            ("network where cidrMatch(source.ip, \"10.0.0.0/8\", \"192.168.1.0/24\")", true),
            ("network where not cidrMatch(source.ip, \"10.0.0.0/8\")", true),
            ("network where cidrMatch(destination.ip, \"2001:db8::/32\")", true),
            ("network where source.ip > \"192.168.1.3\"", true),
            ("network where dll.code_signature.trusted == true", true),
            ("network where dll.code_signature.trusted == false", false),
            ("network where process.args_count + 1 == 4", true),
            ("network where 4 / process.args_count == 1", true),
            ("network where 4.0 / process.args_count == 1", false),
            ("network where modulo(process.args_count, 2) == 1", true),
        ],
    );
}

#[test]
fn functions() {
    let doc = json!({"event": {"category": "file"}, "file": {"path": "C:\\Windows\\System32\\cmd.exe", "name": "cmd.exe"},
        "url": {"domain": "subdomain.example.com"}, "process": {"command_line": "start regsvr32.exe"}});
    check(
        doc,
        &[
            ("file where between(file.path, \"System32\\\\\", \".exe\") == \"cmd\"", true),
            ("file where between(file.path, \"system32\\\\\", \".exe\") == \"\"", true),
            ("file where between~(file.path, \"system32\\\\\", \".exe\") == \"cmd\"", true),
            ("file where between(file.path, \"\\\\\", \"\\\\\", true) == \"Windows\\\\System32\"", true),
            ("file where between(file.path, \"\\\\\", \"\\\\\") == \"Windows\"", true),
            ("file where indexOf(url.domain, \"d\") == 3", true),
            ("file where indexOf(url.domain, \".\", 10) == 17", true),
            ("file where indexOf~(url.domain, \"D\") == 3", true),
            ("file where indexOf(url.domain, \"z\") == null", false),
            ("file where length(file.name) == 7", true),
            ("file where substring(file.name, -4) == \".exe\"", true),
            ("file where substring(file.name, 0, 3) == \"cmd\"", true),
            ("file where substring(file.name, -4, -1) == \".ex\"", true),
            ("file where concat(file.name, \" \", 42) == \"cmd.exe 42\"", true),
            ("file where string(42.5) == \"42.5\"", true),
            ("file where number(\"0xdeadbeef\") == 3735928559", true),
            ("file where number(\"deadbeef\", 16) == 3735928559", true),
            ("file where number(\"  1337  \") == 1337", true),
            ("file where number(\"42.5\") == 42.5", true),
            ("file where add(4, 0.5) == 4.5", true),
            ("file where divide(4, 3) == 1", true),
            ("file where endsWith(file.name, \".EXE\")", false),
            ("file where endsWith~(file.name, \".EXE\")", true),
            ("file where stringContains(process.command_line, \"regsvr32\")", true),
            ("file where stringContains~(process.command_line, \"REGSVR32\")", true),
            ("file where STARTSWITH(file.name, \"cmd\")", true),
            ("file where startswith~(file.name, \"CMD\")", true),
            ("file where startsWith(\"regsvr32.exe\", \"regsvr32\")", true),
            ("file where stringContains(\"\", \"\")", false),
            // Of a field, a wildcard query: `*` in the constant is a wildcard (Elasticsearch's quirk).
            ("file where stringContains(file.name, \"d*e\")", true),
            ("file where stringContains(concat(file.name, \"\"), \"d*e\")", false),
        ],
    );
}

#[test]
fn plan_errors() {
    for (query, message) in [
        (
            "any where process.name == process.executable",
            "comparisons against fields are not supported; compare each field with a value",
        ),
        ("any where frob(process.name)", "`frob` is not an EQL function"),
        ("any where length(process.name, 2) == 1", "`length` takes 1 arguments, not 2"),
        ("any where length~(process.name) == 1", "`length` has no case-insensitive form (`length~`)"),
        ("any where process.name in (\"a\", process.executable)", "`in` takes values, not fields"),
        ("any where process.name : 1", "patterns are strings"),
    ] {
        let parsed = eql::parse(query).expect(query);
        let eql::QueryKind::Event(filter) = &parsed.kind else { panic!("an event query") };
        let err = filter.compile(ecs::Catalog::builtin(), "event.category").expect_err(query);
        assert_eq!(err.to_string(), message, "{query}");
    }
}

#[test]
fn literals_come_from_exact_comparisons_only() {
    let catalog = ecs::Catalog::builtin();
    let literal = |query: &str| {
        let parsed = eql::parse(query).expect("parses");
        parsed.filters()[0].literal_query(catalog, "event.category").map(|q| q.to_string())
    };
    assert_eq!(
        literal(
            "web where event.action == \"New-InboxRule\" and process.name : \"x\" and not event.outcome == \"failure\""
        ),
        Some("event.category:\"web\" and event.action:\"New-InboxRule\"".to_owned())
    );
    assert_eq!(
        literal("any where event.action in (\"a\", \"b\") or event.provider == \"c\""),
        Some("event.action:(\"a\" or \"b\") or event.provider:\"c\"".to_owned())
    );
    assert_eq!(literal("any where event.action in~ (\"a\") or event.provider == \"c\""), None);
    assert_eq!(literal("any where startsWith(event.action, \"a\")"), None);
    // A field the catalog does not type as a keyword is left out (it may be text, or a number).
    assert_eq!(literal("any where process.pid == \"4\""), None);
}

#[test]
fn comparisons_that_ignore_case_require_a_text_in_any_case() {
    let catalog = ecs::Catalog::builtin();
    let clauses = |query: &str| {
        let parsed = eql::parse(query).expect("parses");
        let literals = parsed.filters()[0].literals(catalog, "event.category", &|_| ecs::Copied::ValueAndName);
        let texts = |clause: &Vec<Vec<u8>>| clause.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect();
        literals
            .clauses()
            .iter()
            .map(texts)
            .zip(literals.any_case().iter().cloned())
            .collect::<Vec<(Vec<String>, Vec<bool>)>>()
    };
    let s = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<String>>();
    // The longest part between wildcards, in lower case, most selective first.
    assert_eq!(
        clauses(
            r#"process where process.name : ("CMD.exe", "power*SHELL.exe") and user_agent.original : "*BloodHound*""#
        ),
        [
            (s(&["bloodhound"]), vec![true]),
            (s(&["cmd.exe", "shell.exe"]), vec![true, true]),
            (s(&["process"]), vec![false])
        ]
    );
    assert_eq!(
        clauses(r#"any where startsWith~(file.path, """C:\Windows\""") and process.name in~ ("a.exe", "b.exe")"#),
        [(s(&["windows"]), vec![true]), (s(&["a.exe", "b.exe"]), vec![true, true])]
    );
    // An `or`, a `not`, a number, a pattern with no text, a field not typed as text: nothing.
    for query in [
        r#"any where process.name : "a" or process.name : "b""#,
        r#"any where not process.name : "cmd.exe""#,
        r#"any where process.name : "1234""#,
        r#"any where process.name : "*""#,
        r#"any where process.pid : "4""#,
        r#"any where process.name regex~ "cmd.*""#,
        // A categorization field's values are in most lines: not worth a search in any case.
        r#"any where data_stream.dataset : "o365.audit""#,
    ] {
        assert_eq!(clauses(query), [], "{query}");
    }
}
