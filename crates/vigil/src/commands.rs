//! One module per subcommand.

pub mod alerts;
pub mod connectors;
pub mod exceptions;
pub mod keys;
pub mod kql;
pub mod o365;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod status;
