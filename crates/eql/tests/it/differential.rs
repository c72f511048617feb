//! Differential test: random event queries and documents (`tests/differential.py`) judged by
//! Elastic's `eql` Python package and by vigil, which must agree. The generator keeps to what the
//! package and Elasticsearch agree on; the differences it steers around are listed with their
//! reasons in `tests/eql-divergences.toml`. Needs `python3` with the `eql` package (`.ci/run`
//! installs it): without it the test fails and says so.

use std::process::Command;

use serde_json::Value;

#[test]
#[allow(clippy::print_stdout)]
fn vigil_agrees_with_elastics_python_eql_on_random_queries() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/differential.py");
    let mut failures = Vec::new();
    let (mut queries, mut judged) = (0, 0);
    for seed in [7, 11, 23] {
        let output = Command::new("python3")
            .args([script, "--seed", &seed.to_string(), "--queries", "400", "--docs", "60"])
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "the generator failed (is Elastic's eql package installed? python3 -m pip install eql==1.0.1):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("UTF-8");
        let mut lines = text.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON"));
        let docs: Vec<ecs::Document> = lines.next().expect("the documents")["docs"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|d| ecs::Document::new(d.clone()))
            .collect();
        for case in lines {
            let query = case["query"].as_str().expect("a query");
            let expected: Vec<u64> =
                case["matched"].as_array().expect("ids").iter().filter_map(Value::as_u64).collect();
            let parsed = eql::parse(query).unwrap_or_else(|e| panic!("{}", e.snippet(query, "generated")));
            let filter = parsed.filters()[0];
            let matcher = filter.compile(ecs::Catalog::builtin(), "event.category").expect("compiles");
            let got: Vec<u64> =
                docs.iter().filter(|d| matcher.matches(d)).filter_map(|d| d.root()["id"].as_u64()).collect();
            // The prefilter keeps the line of every document vigil matches.
            let literals = filter.literals(ecs::Catalog::builtin(), "event.category", &|_| ecs::Copied::ValueAndName);
            for doc in docs.iter().filter(|d| matcher.matches(d)) {
                let line = doc.root().to_string();
                if !literals.may_match(line.as_bytes()) {
                    failures.push(format!("seed {seed}: {query}\n  the prefilter drops {line}"));
                }
            }
            queries += 1;
            judged += docs.len();
            if got != expected {
                let differ: Vec<&u64> = got
                    .iter()
                    .filter(|i| !expected.contains(i))
                    .chain(expected.iter().filter(|i| !got.contains(i)))
                    .collect();
                let first = differ[0];
                failures.push(format!(
                    "seed {seed}: {query}\n  python eql: {expected:?}\n  vigil:      {got:?}\n  e.g. {}",
                    docs.iter()
                        .find(|d| d.root()["id"].as_u64() == Some(*first))
                        .map(|d| d.root().to_string())
                        .unwrap_or_default()
                ));
            }
        }
    }
    println!("differential: {queries} queries x 60 documents ({judged} judgements), {} disagreements", failures.len());
    assert!(failures.is_empty(), "{} of {queries} queries disagree:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_divergence_says_what_differs_and_how_the_generator_steers_around_it() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/eql-divergences.toml")).expect("read");
    let file: toml::Table = text.parse().expect("TOML");
    let entries = file["divergence"].as_array().expect("[[divergence]]");
    assert!(entries.len() >= 7);
    for entry in entries {
        for key in ["key", "what", "python", "elasticsearch", "generator"] {
            assert!(entry.get(key).and_then(toml::Value::as_str).is_some_and(|s| !s.is_empty()), "{key} in {entry}");
        }
    }
}
