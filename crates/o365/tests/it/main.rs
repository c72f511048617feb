//! Integration tests of the `o365` crate, built as one binary.

mod api;
mod conformance;
mod records;
mod reference;
mod samples;
