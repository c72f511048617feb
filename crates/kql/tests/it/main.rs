//! Integration tests of the `kql` crate, built as one binary.

mod conformance;
mod corpus;
mod semantics;
mod errors;
mod properties;
