//! One module per subcommand.

pub mod kql;
