//! One module per subcommand.

pub mod alerts;
pub mod connectors;
pub mod events;
pub mod exceptions;
pub mod keys;
pub mod kql;
pub mod o365;
pub mod rule_ops;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod status;
