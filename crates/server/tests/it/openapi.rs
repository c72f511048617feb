//! Checks answers against the OpenAPI document: the operation for the method and path must
//! exist, list the status, and its schema must accept the body. A small validator for what
//! utoipa generates: `$ref`, `type` (one or several), `properties`, `required`, `items`,
//! `allOf`, `oneOf`, `anyOf`, `enum`.

use serde_json::Value;

/// Panics with the JSON pointer of the first mismatch.
pub fn check(spec: &Value, method: &str, uri: &str, status: u16, body: &Value) {
    let path = uri.split('?').next().unwrap_or(uri);
    let paths = spec["paths"].as_object().expect("paths");
    let (template, item) = paths
        .iter()
        .find(|(template, _)| matches(template, path))
        .unwrap_or_else(|| panic!("{method} {path}: no such path in the OpenAPI document"));
    let operation = &item[method.to_ascii_lowercase()];
    assert!(operation.is_object(), "{method} {template}: no such operation in the OpenAPI document");
    let response = &operation["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {template}: status {status} is not documented");
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {template} {status}: no JSON schema documented");
    if let Err(at) = validate(spec, schema, body, "") {
        panic!("{method} {template} {status}: the body does not follow the schema at {at}\nbody: {body:#}");
    }
}

fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or("");
        return validate(spec, &spec["components"]["schemas"][name], value, at);
    }
    if let Some(all) = schema["allOf"].as_array() {
        for part in all {
            validate(spec, part, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array()
            && !options.iter().any(|option| validate(spec, option, value, at).is_ok())
        {
            return Err(format!("{at} ({key}: no option fits)"));
        }
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        return Err(format!("{at} (not one of the enum)"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| is_type(t, value)) {
        return Err(format!("{at} (expected {types:?}, found {value})"));
    }
    if let (Some(properties), Value::Object(map)) = (schema["properties"].as_object(), value) {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(required) {
                return Err(format!("{at}/{required} (required, missing)"));
            }
        }
        for (key, property) in properties {
            if let Some(v) = map.get(key) {
                validate(spec, property, v, &format!("{at}/{key}"))?;
            }
        }
    }
    if let (Some(items), Value::Array(elements)) = (schema.get("items"), value) {
        for (i, element) in elements.iter().enumerate() {
            validate(spec, items, element, &format!("{at}/{i}"))?;
        }
    }
    Ok(())
}

fn is_type(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

#[test]
fn the_validator_rejects_what_the_schema_does_not_allow() {
    let spec = serde_json::json!({"components": {"schemas": {"P": {"type": "object", "required": ["n"],
        "properties": {"n": {"type": "integer"}, "s": {"type": ["string", "null"]}, "l": {"type": "array", "items": {"type": "string"}}}}}}});
    let schema = serde_json::json!({"$ref": "#/components/schemas/P"});
    assert!(validate(&spec, &schema, &serde_json::json!({"n": 1, "s": null, "l": ["a"]}), "").is_ok());
    assert_eq!(validate(&spec, &schema, &serde_json::json!({"s": "x"}), ""), Err("/n (required, missing)".into()));
    assert!(validate(&spec, &schema, &serde_json::json!({"n": "1"}), "").is_err());
    assert!(validate(&spec, &schema, &serde_json::json!({"n": 1, "l": [2]}), "").is_err());
}
