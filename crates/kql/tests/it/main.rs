//! Integration tests of the `kql` crate, built as one binary.

mod conformance;
mod corpus;
mod errors;
mod printing;
mod properties;
mod semantics;
