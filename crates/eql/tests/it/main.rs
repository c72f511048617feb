//! The eql crate's integration tests: the parser on written cases, and Elastic's rule corpus.

mod corpus;
mod differential;
mod eval;
mod parse;
mod sequence;
