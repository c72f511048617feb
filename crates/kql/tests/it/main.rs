//! Integration tests of the `kql` crate, built as one binary.

mod conformance;
mod corpus;
mod errors;
mod properties;
mod semantics;
