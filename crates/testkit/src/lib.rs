//! Test helpers shared by vigil's crates (a dev-dependency only).
//!
//! Conformance tests read Elastic's reference data from `../shared` (next to the repository),
//! which vigil does not ship. [`shared_dir`] finds it; when it is absent, tests say so and pass.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

pub mod browser;
pub mod nats;

/// The shared reference-data folder: `$VIGIL_SHARED`, else `../shared` beside the workspace.
/// `None` (after printing `skipped: ../shared not found at <path>`) when it does not exist.
#[allow(clippy::print_stderr)]
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("VIGIL_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared not found at {}", dir.display());
        None
    }
}

/// `(file, query)` of every rule in Elastic's public rule corpus (`../shared/corpus/detection-rules`)
/// whose `language` is `language` (`kuery`, `eql`, ...), in file order; `None` (after saying so)
/// when `../shared` is absent.
pub fn corpus_queries(language: &str) -> Option<Vec<(PathBuf, String)>> {
    fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                toml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    toml_files(&shared_dir()?.join("corpus/detection-rules"), &mut files);
    files.sort();
    let queries = files
        .into_iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).ok()?;
            let doc: toml::Table = text.parse().ok()?;
            let rule = doc.get("rule")?.as_table()?;
            if rule.get("language")?.as_str()? != language {
                return None;
            }
            Some((file, rule.get("query")?.as_str()?.to_owned()))
        })
        .collect();
    Some(queries)
}
