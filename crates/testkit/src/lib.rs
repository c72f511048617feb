//! Test helpers shared by vigil's crates (a dev-dependency only).
//!
//! Conformance tests read Elastic's reference data from `../shared` (next to the repository),
//! which vigil does not ship. [`shared_dir`] finds it; when it is absent, tests say so and pass.
#![deny(missing_docs)]

use std::path::PathBuf;

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
