//! Integration tests of the `rules` crate, built as one binary.

mod corpus;
mod loading;
