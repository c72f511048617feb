//! The field catalog: which Elasticsearch type each field has.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The generated table (see `gen/catalog.py`): `name<TAB>type[<TAB>key=value...]`.
const BUILTIN_TABLE: &str = include_str!("catalog.tsv");

/// An Elasticsearch field type, as a mapping declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `keyword`: exact, case-sensitive, whole value.
    Keyword,
    /// `constant_keyword`: a keyword whose value the mapping fixes.
    ConstantKeyword,
    /// `wildcard`: a keyword tuned for wildcard search; matches like `keyword`.
    Wildcard,
    /// `flattened`: an object whose leaves are all keywords.
    Flattened,
    /// `text`: analyzed into lower-cased word tokens.
    Text,
    /// `match_only_text`: `text` without positions or scoring; matches like `text`.
    MatchOnlyText,
    /// `boolean`.
    Boolean,
    /// `long` and `unsigned_long`: whole numbers, read from JSON strings as they are (a string
    /// with surrounding whitespace is malformed).
    Long,
    /// `integer`, `short`, `byte`: whole numbers, read from JSON strings after trimming them.
    Integer,
    /// `double`, `float`, `half_float`, `scaled_float`: floating-point numbers.
    Float,
    /// `date` (millisecond precision).
    Date,
    /// `date_nanos` (nanosecond precision).
    DateNanos,
    /// `ip`: an IPv4 or IPv6 address.
    Ip,
    /// `object`: a container of other fields.
    Object,
    /// `nested`: an array of objects indexed as separate documents.
    Nested,
    /// `geo_point` and any type vigil does not compare values of.
    Other,
}

impl FieldType {
    /// The type a mapping names, e.g. `"match_only_text"`.
    pub fn from_mapping(name: &str) -> FieldType {
        match name {
            "keyword" => FieldType::Keyword,
            "constant_keyword" => FieldType::ConstantKeyword,
            "wildcard" => FieldType::Wildcard,
            "flattened" => FieldType::Flattened,
            "text" | "annotated-text" | "search_as_you_type" => FieldType::Text,
            "match_only_text" => FieldType::MatchOnlyText,
            "boolean" => FieldType::Boolean,
            "long" | "unsigned_long" => FieldType::Long,
            "integer" | "short" | "byte" => FieldType::Integer,
            "double" | "float" | "half_float" | "scaled_float" => FieldType::Float,
            "date" => FieldType::Date,
            "date_nanos" => FieldType::DateNanos,
            "ip" => FieldType::Ip,
            "object" | "group" => FieldType::Object,
            "nested" => FieldType::Nested,
            _ => FieldType::Other,
        }
    }

    /// The mapping name of this type (the first one, for types that stand for several).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Keyword => "keyword",
            FieldType::ConstantKeyword => "constant_keyword",
            FieldType::Wildcard => "wildcard",
            FieldType::Flattened => "flattened",
            FieldType::Text => "text",
            FieldType::MatchOnlyText => "match_only_text",
            FieldType::Boolean => "boolean",
            FieldType::Long => "long",
            FieldType::Integer => "integer",
            FieldType::Float => "double",
            FieldType::Date => "date",
            FieldType::DateNanos => "date_nanos",
            FieldType::Ip => "ip",
            FieldType::Object => "object",
            FieldType::Nested => "nested",
            FieldType::Other => "other",
        }
    }

    /// Whether values match exactly and case-sensitively (keyword, constant_keyword, wildcard,
    /// flattened leaves).
    pub fn is_keyword(self) -> bool {
        matches!(self, FieldType::Keyword | FieldType::ConstantKeyword | FieldType::Wildcard | FieldType::Flattened)
    }

    /// Whether values are whole numbers (long, integer, short, byte, unsigned_long).
    pub fn is_integer(self) -> bool {
        matches!(self, FieldType::Long | FieldType::Integer)
    }

    /// Whether values are analyzed into tokens (text, match_only_text).
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Text | FieldType::MatchOnlyText)
    }
}

/// One field of the catalog: its name, type and indexing options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    name: String,
    ty: FieldType,
    ignore_above: Option<u32>,
    source: Option<String>,
}

impl Field {
    /// A field with no indexing options.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Field {
        Field { name: name.into(), ty, ignore_above: None, source: None }
    }

    /// The full dotted name, e.g. `user.name.text`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field's type.
    pub fn ty(&self) -> FieldType {
        self.ty
    }

    /// Keyword values longer than this many characters are not indexed, so they never match.
    pub fn ignore_above(&self) -> Option<u32> {
        self.ignore_above
    }

    /// The document path whose value this field indexes: the parent for a multi-field
    /// (`user.name.text` indexes `user.name`), else the field's own name.
    pub fn source(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }
}

/// Field name -> type, as the mappings of a `logs-*` index give them.
///
/// Lookups try an exact name, then dynamic templates (`o365.audit.Parameters.*`), then the
/// leaves of `flattened` fields. A field the catalog does not know is `None`: callers treat it
/// as Elasticsearch's dynamic mapping does (strings keyword, numbers numeric, booleans boolean).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    exact: HashMap<String, Field>,
    /// Dynamic templates as (prefix before `*`, field), longest prefix first.
    templates: Vec<(String, Field)>,
    /// Multi-fields by the field they index (`user.name` -> [`user.name.text`]).
    multi_fields: HashMap<String, Vec<Field>>,
}

impl Catalog {
    /// ECS plus the Office 365 integration's fields, compiled into the binary.
    pub fn builtin() -> &'static Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN.get_or_init(|| Catalog::from_table(BUILTIN_TABLE))
    }

    /// A catalog that knows no field: every field is typed dynamically.
    pub fn empty() -> Catalog {
        Catalog::default()
    }

    /// A catalog of the given fields; a name ending in `*` is a dynamic template.
    pub fn from_fields(fields: impl IntoIterator<Item = Field>) -> Catalog {
        let mut catalog = Catalog::default();
        for field in fields {
            catalog.insert(field);
        }
        catalog
    }

    fn from_table(table: &str) -> Catalog {
        let fields = table.lines().filter(|line| !line.starts_with('#')).filter_map(|line| {
            let mut cols = line.split('\t');
            let mut field = Field::new(cols.next()?, FieldType::from_mapping(cols.next()?));
            for option in cols {
                match option.split_once('=') {
                    Some(("ignore_above", n)) => field.ignore_above = n.parse().ok(),
                    Some(("source", path)) => field.source = Some(path.to_owned()),
                    _ => {}
                }
            }
            Some(field)
        });
        Catalog::from_fields(fields)
    }

    fn insert(&mut self, field: Field) {
        if let Some(prefix) = field.name.strip_suffix('*') {
            let prefix = prefix.to_owned();
            let at = self.templates.partition_point(|(p, _)| p.len() >= prefix.len());
            self.templates.insert(at, (prefix, field));
        } else {
            if let Some(source) = &field.source {
                self.multi_fields.entry(source.clone()).or_default().push(field.clone());
            }
            self.exact.insert(field.name.clone(), field);
        }
    }

    /// The type and `ignore_above` of the field called `name`, without allocating; `None` when
    /// the catalog does not type it.
    pub fn type_of(&self, name: &str) -> Option<(FieldType, Option<u32>)> {
        if let Some(field) = self.exact.get(name) {
            return Some((field.ty, field.ignore_above));
        }
        if let Some((_, template)) = self.templates.iter().find(|(prefix, _)| name.starts_with(prefix.as_str())) {
            return Some((template.ty, template.ignore_above));
        }
        let mut end = name.len();
        while let Some(dot) = name[..end].rfind('.') {
            end = dot;
            if self.exact.get(&name[..end]).is_some_and(|f| f.ty == FieldType::Flattened) {
                return Some((FieldType::Keyword, None));
            }
        }
        None
    }

    /// The multi-fields that index the value of `source` (`user.name` -> `user.name.text`).
    pub fn multi_fields(&self, source: &str) -> &[Field] {
        self.multi_fields.get(source).map_or(&[], Vec::as_slice)
    }

    /// The field called `name`, if the catalog types it.
    pub fn get(&self, name: &str) -> Option<Field> {
        if let Some(field) = self.exact.get(name) {
            return Some(field.clone());
        }
        // Dynamic templates, then the leaves of `flattened` fields (keywords).
        let (ty, ignore_above) = self.type_of(name)?;
        Some(Field { name: name.to_owned(), ty, ignore_above, source: None })
    }

    /// The fields whose names `matches` accepts, sorted by name (dynamic templates excluded:
    /// their names are only known per document).
    pub fn fields_matching(&self, mut matches: impl FnMut(&str) -> bool) -> Vec<&Field> {
        let mut fields: Vec<&Field> = self.exact.values().filter(|f| matches(&f.name)).collect();
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        fields
    }

    /// How many fields and dynamic templates the catalog holds.
    pub fn len(&self) -> usize {
        self.exact.len() + self.templates.len()
    }

    /// Whether the catalog knows no field at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_the_dkim_rule_fields() {
        let catalog = Catalog::builtin();
        let ty = |name| catalog.get(name).map(|f| f.ty());
        assert_eq!(ty("event.action"), Some(FieldType::Keyword));
        assert_eq!(ty("event.dataset"), Some(FieldType::ConstantKeyword));
        assert_eq!(ty("o365.audit.Parameters.Enabled"), Some(FieldType::Keyword));
        assert_eq!(ty("o365.audit.Parameters.Anything.Below"), Some(FieldType::Keyword));
        assert_eq!(ty("@timestamp"), Some(FieldType::Date));
        assert_eq!(ty("source.ip"), Some(FieldType::Ip));
        assert_eq!(ty("message"), Some(FieldType::MatchOnlyText));
        assert_eq!(ty("no.such.field"), None);
    }

    #[test]
    fn multi_fields_read_their_parent() {
        let field = Catalog::builtin().get("user.name.text").expect("ECS has user.name.text");
        assert_eq!(field.ty(), FieldType::MatchOnlyText);
        assert_eq!(field.source(), "user.name");
        assert_eq!(Catalog::builtin().get("user.name").map(|f| f.ignore_above()), Some(Some(1024)));
    }

    #[test]
    fn flattened_leaves_are_keywords() {
        let catalog = Catalog::from_fields([Field::new("labels_flat", FieldType::Flattened)]);
        assert_eq!(catalog.get("labels_flat.a.b").map(|f| f.ty()), Some(FieldType::Keyword));
    }
}
