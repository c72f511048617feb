//! Integration tests of the `kql` crate, built as one binary.

/// The `[[case]]` tables of one of the data files in `tests/data/`.
fn cases<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
    #[derive(serde::Deserialize)]
    struct Cases<T> {
        case: Vec<T>,
    }
    match toml::from_str::<Cases<T>>(text) {
        Ok(cases) => cases.case,
        Err(err) => panic!("a test data file is invalid: {err}"),
    }
}

mod conformance;
mod corpus;
mod errors;
mod printing;
mod properties;
mod semantics;
