//! Every KQL query of Elastic's public rule corpus (`../shared/corpus/detection-rules`) parses,
//! compiles against the built-in catalog, prints canonically and round-trips, and gives DSL.

#[test]
#[allow(clippy::print_stdout)]
fn every_kuery_rule_query_parses_compiles_and_round_trips() {
    let Some(queries) = testkit::corpus_queries("kuery") else { return };
    assert!(queries.len() > 700, "expected the whole corpus, found {} kuery rules", queries.len());
    let catalog = ecs::Catalog::builtin();
    let mut failures = Vec::new();
    for (file, text) in &queries {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let query = match kql::parse(text) {
            Ok(q) => q,
            Err(e) => {
                failures.push(format!("{name}: parse: {e}"));
                continue;
            }
        };
        if let Err(e) = query.compile(catalog) {
            failures.push(format!("{name}: compile: {e}"));
        }
        let printed = query.to_string();
        match kql::parse(&printed) {
            Ok(again) if again == query => {}
            Ok(again) => failures.push(format!("{name}: printed form {printed:?} parses as {again}")),
            Err(e) => failures.push(format!("{name}: printed form {printed:?} does not parse: {e}")),
        }
        if !query.to_dsl(catalog).is_object() {
            failures.push(format!("{name}: DSL is not an object"));
        }
    }
    println!("corpus: {} kuery queries, {} failed", queries.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
