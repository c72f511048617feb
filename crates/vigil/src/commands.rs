//! One module per subcommand.

pub mod kql;
pub mod rules;
pub mod scan;
