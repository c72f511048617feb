//! One module per subcommand.

pub mod kql;
pub mod o365;
pub mod rules;
pub mod scan;
