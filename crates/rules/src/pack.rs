//! The built-in rule pack: rules compiled into vigil, each with events that must and must not
//! alert (`pack/<rule>.toml` and `pack/<rule>.tests/{alert,no-alert}.ndjson`).

/// One built-in rule and its test events.
#[derive(Clone, Copy, Debug)]
pub struct PackRule {
    /// The rule's file name in `pack/`.
    pub file: &'static str,
    /// The detection-rules TOML.
    pub toml: &'static str,
    /// NDJSON events each of which must alert.
    pub alert: &'static str,
    /// NDJSON events none of which may alert.
    pub no_alert: &'static str,
}

macro_rules! pack_rule {
    ($name:literal) => {
        PackRule {
            file: concat!($name, ".toml"),
            toml: include_str!(concat!("../pack/", $name, ".toml")),
            alert: include_str!(concat!("../pack/", $name, ".tests/alert.ndjson")),
            no_alert: include_str!(concat!("../pack/", $name, ".tests/no-alert.ndjson")),
        }
    };
}

/// The pack, in file-name order.
pub const PACK: &[PackRule] = &[pack_rule!("m365_exchange_dkim_signing_config_disabled")];
