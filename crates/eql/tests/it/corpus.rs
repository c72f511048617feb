//! Every EQL query of Elastic's public rule corpus (`../shared/corpus/detection-rules`) parses,
//! prints canonically and parses back to the same query, and each of its event filters compiles
//! against the built-in catalog.

#[test]
#[allow(clippy::print_stdout)]
fn every_eql_rule_query_parses_and_round_trips() {
    let Some(queries) = testkit::corpus_queries("eql") else { return };
    assert!(queries.len() > 1_000, "expected the whole corpus, found {} eql rules", queries.len());
    let mut failures = Vec::new();
    let (mut events, mut sequences, mut samples) = (0, 0, 0);
    for (file, text) in &queries {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let query = match eql::parse(text) {
            Ok(q) => q,
            Err(e) => {
                failures.push(format!("{name}:\n{}", e.snippet(text, &name)));
                continue;
            }
        };
        match &query.kind {
            eql::QueryKind::Event(_) => events += 1,
            eql::QueryKind::Sequence(_) => sequences += 1,
            eql::QueryKind::Sample(_) => samples += 1,
        }
        for filter in query.filters() {
            if let Err(e) = filter.compile(ecs::Catalog::builtin(), "event.category") {
                failures.push(format!("{name}: compile:\n{}", e.snippet(text, &name)));
            }
        }
        let printed = query.to_string();
        match eql::parse(&printed) {
            Ok(again) if again == query => {}
            Ok(again) => failures.push(format!("{name}: printed form {printed:?} parses as {again}")),
            Err(e) => failures.push(format!("{name}: printed form {printed:?} does not parse: {e}")),
        }
    }
    println!(
        "corpus: {} eql queries ({events} event, {sequences} sequence, {samples} sample), {} failed",
        queries.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
