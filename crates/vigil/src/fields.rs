//! Field names that no catalog knows, with what they were probably meant to be: the check
//! `vigil rules validate` makes of each query, as detection-rules' own validation does against
//! its schemas.
//!
//! vigil's catalog holds ECS and the Office 365 integration. A field it does not know is
//! reported when it sits under a namespace the catalog covers (`event.actoin`) or when it is a
//! slip away from a known field (`evnt.action`); fields of integrations vigil has no schema for
//! (`aws.cloudtrail.*`, `winlog.*`) are counted, not reported.

use ecs::Catalog;

/// A field of a query that no document could have.
#[derive(Debug, PartialEq, Eq)]
pub struct Unknown {
    /// The field as the query names it.
    pub field: String,
    /// The known field it most likely means.
    pub suggestion: Option<String>,
}

/// What the check found in one query.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Fields reported.
    pub unknown: Vec<Unknown>,
    /// Fields of namespaces the catalog does not cover, not checked.
    pub unchecked: usize,
}

/// Checks the fields of `query` (KQL) against `catalog`.
pub fn check(query: &kql::Query, catalog: &Catalog) -> Checked {
    let mut checked = Checked::default();
    let known = catalog.fields_matching(|_| true);
    for field in query.field_names() {
        if field.contains('*') || field.starts_with('_') || catalog.type_of(&field).is_some() {
            continue;
        }
        let suggestion = closest(&field, known.iter().map(|f| f.name()));
        let namespace = field.split('.').next().unwrap_or_default();
        let covered = known.iter().any(|f| f.name().split('.').next() == Some(namespace));
        if covered || suggestion.is_some() {
            checked.unknown.push(Unknown { field, suggestion });
        } else {
            checked.unchecked += 1;
        }
    }
    checked
}

/// The name among `names` a slip away from `field`: at most 2 edits, 1 for short names.
fn closest<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = if field.len() < 8 { 1 } else { 2 };
    names
        .map(|name| (strsim::damerau_levenshtein(field, name), name))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, name)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(query: &str) -> Checked {
        check(&kql::parse(query).expect("a query"), Catalog::builtin())
    }

    #[test]
    fn slips_are_reported_with_what_was_meant() {
        let checked = unknown("evnt.action:x and event.outcom:success and user.name:a");
        assert_eq!(
            checked.unknown,
            [
                Unknown { field: "evnt.action".into(), suggestion: Some("event.action".into()) },
                Unknown { field: "event.outcom".into(), suggestion: Some("event.outcome".into()) },
            ]
        );
    }

    #[test]
    fn unknown_fields_of_known_namespaces_are_reported_and_others_counted() {
        let checked = unknown("event.zzzzzzzzzz:x and aws.cloudtrail.user_identity.arn:y and o365.audit.Operation:z");
        assert_eq!(checked.unknown, [Unknown { field: "event.zzzzzzzzzz".into(), suggestion: None }]);
        assert_eq!(checked.unchecked, 1);
    }
}
