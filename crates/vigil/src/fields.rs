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

/// A catalog's field names, ready to check queries against.
pub struct FieldCheck<'c> {
    catalog: &'c Catalog,
    /// Every field the catalog names.
    known: Vec<&'c str>,
    /// Their first parts (`event`, `o365`).
    namespaces: std::collections::HashSet<&'c str>,
}

impl<'c> FieldCheck<'c> {
    /// Checks against `catalog`.
    pub fn new(catalog: &'c Catalog) -> FieldCheck<'c> {
        let known: Vec<&str> = catalog.fields_matching(|_| true).into_iter().map(ecs::Field::name).collect();
        let namespaces = known.iter().filter_map(|name| name.split('.').next()).collect();
        FieldCheck { catalog, known, namespaces }
    }

    /// Checks the fields of `query` (KQL).
    pub fn check(&self, query: &kql::Query) -> Checked {
        let mut checked = Checked::default();
        for field in query.field_names() {
            if field.contains('*') || field.starts_with('_') || self.catalog.type_of(&field).is_some() {
                continue;
            }
            let suggestion = closest(&field, self.known.iter().copied());
            let namespace = field.split('.').next().unwrap_or_default();
            if self.namespaces.contains(namespace) || suggestion.is_some() {
                checked.unknown.push(Unknown { field, suggestion });
            } else {
                checked.unchecked += 1;
            }
        }
        checked
    }
}

/// The name among `names` a slip away from `field`: at most 2 edits (a swap of two neighbours is
/// one), 1 for short names.
fn closest<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = if field.len() < 8 { 1 } else { 2 };
    names
        .filter(|name| name.len().abs_diff(field.len()) <= limit)
        .map(|name| (strsim::osa_distance(field, name), name))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, name)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(query: &str) -> Checked {
        FieldCheck::new(Catalog::builtin()).check(&kql::parse(query).expect("a query"))
    }

    #[test]
    fn slips_are_reported_with_what_was_meant() {
        let checked = unknown("evnt.action:x and event.outcom:success and user.name:a");
        assert_eq!(
            checked.unknown,
            [
                Unknown { field: "event.outcom".into(), suggestion: Some("event.outcome".into()) },
                Unknown { field: "evnt.action".into(), suggestion: Some("event.action".into()) },
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
