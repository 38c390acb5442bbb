//! The OpenAPI document as served: poem-openapi's, plus what its derive macros cannot
//! say, so that the document tells the truth (schemathesis checks it against the server
//! in the test command); and the methods each path allows, for `405` answers.

mod rules;

use poem::http::Method;
use serde_json::{json, Map, Value};

/// The served document and the path → methods table built from it.
pub struct Spec {
    document: String,
    paths: Vec<PathMethods>,
}

struct PathMethods {
    /// Path segments; `None` stands for a `{parameter}`.
    segments: Vec<Option<String>>,
    methods: Vec<Method>,
}

impl Spec {
    /// Patches poem-openapi's document (`raw`, JSON).
    pub fn new(raw: &str) -> Spec {
        let mut doc: Value = serde_json::from_str(raw).expect("poem-openapi writes JSON");
        rules::host_lists_are_bounded(&mut doc);
        rules::schedules_are_described(&mut doc);
        strict_request_bodies(&mut doc);
        rules::parameters_are_bounded(&mut doc);
        event_streams_are_text(&mut doc);
        optional_properties_are_nullable(&mut doc);
        rules::credential_kinds_are_told_apart(&mut doc);
        rules::a_new_gitlab_rule_needs_a_secret(&mut doc);
        rules::bounds_are_integers(&mut doc);
        let paths = doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, ops)| PathMethods {
                        segments: path
                            .split('/')
                            .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                            .collect(),
                        methods: ops
                            .as_object()
                            .map(|o| o.keys().filter_map(|m| m.to_uppercase().parse().ok()).collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Spec { document: doc.to_string(), paths }
    }

    pub fn document(&self) -> &str {
        &self.document
    }

    /// The methods the API serves at `path` (the most literal match wins, as in routing),
    /// or `None` for a path it does not serve.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let given: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|p| {
                p.segments.len() == given.len()
                    && p.segments.iter().zip(&given).all(|(s, g)| match s {
                        Some(literal) => literal == g,
                        None => !g.is_empty(),
                    })
            })
            .max_by_key(|p| p.segments.iter().filter(|s| s.is_some()).count())
            .map(|p| {
                let mut methods = p.methods.clone();
                if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
                    methods.push(Method::HEAD);
                }
                methods
            })
    }
}

/// The value of an `Allow` header for `methods`.
pub fn allow_header(methods: &[Method]) -> String {
    methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
}

/// Every request body type refuses unknown fields (`deny_unknown_fields`), which
/// poem-openapi does not put in the schema: say `additionalProperties: false` on every
/// object schema a request body reaches. And every string in a body refuses NUL
/// (`http::strict`): say so on each string that has no pattern of its own (the patterns
/// of `validate::patterns` all refuse it).
fn strict_request_bodies(doc: &mut Value) {
    let mut names = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for ops in paths.values().filter_map(Value::as_object) {
            for op in ops.values() {
                if let Some(content) = op.pointer("/requestBody/content").and_then(Value::as_object) {
                    for media in content.values() {
                        collect_refs(&media["schema"], &mut names);
                    }
                }
            }
        }
    }
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    let mut seen = Vec::new();
    while let Some(name) = names.pop() {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let Some(schema) = schemas.get_mut(&name) else { continue };
        collect_refs(schema, &mut names);
        close_objects(schema);
        rules::strings_refuse_nul(schema);
    }
}

/// Names of the component schemas `schema` refers to, directly or inside it.
fn collect_refs(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) =
                map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                names.push(name.to_string());
            }
            map.values().for_each(|v| collect_refs(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, names)),
        _ => {}
    }
}

/// Sets `additionalProperties: false` on object schemas with declared properties.
fn close_objects(schema: &mut Value) {
    if let Value::Object(map) = schema {
        if map.contains_key("properties") && !map.contains_key("additionalProperties") {
            map.insert("additionalProperties".into(), Value::Bool(false));
        }
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            props.values_mut().for_each(close_objects);
        }
        if let Some(items) = map.get_mut("items") {
            close_objects(items);
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(list)) = map.get_mut(key) {
                list.iter_mut().for_each(close_objects);
            }
        }
    }
}

/// poem-openapi declares a Server-Sent Events answer as an array of its items. On the
/// wire each event has an `id`, an `event` type and `data` holding one item as JSON; for
/// `text/event-stream`, OpenAPI before 3.2 has `schema` describe one such event.
fn event_streams_are_text(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for ops in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in ops.values_mut() {
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            for response in responses.values_mut() {
                if let Some(media) = response.pointer_mut("/content/text~1event-stream") {
                    let item = media.pointer("/schema/items").cloned().unwrap_or(Value::Object(Map::new()));
                    media["schema"] = json!({
                        "type": "object",
                        "description": "One Server-Sent Event: `event` is the item's kind, `id` its position \
                                        (send it back as Last-Event-ID), `data` the item as JSON.",
                        "required": ["data"],
                        "properties": {
                            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": item},
                            "event": {"type": "string"},
                            "id": {"type": "string", "pattern": "^[0-9]+$"},
                            "retry": {"type": "integer"}
                        }
                    });
                }
            }
        }
    }
}

/// An optional property (an `Option` field: poem-openapi lists every other field as
/// required, but for those with a `default`) is sent as `null` when absent and accepted as
/// `null`: say `nullable`. A property with a `default` is left out, never `null`.
fn optional_properties_are_nullable(doc: &mut Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.values_mut().for_each(nullable_optionals);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for ops in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in ops.values_mut() {
            if let Some(content) = op.pointer_mut("/requestBody/content").and_then(Value::as_object_mut) {
                content.values_mut().for_each(|m| nullable_optionals(&mut m["schema"]));
            }
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                for response in responses.values_mut() {
                    if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
                        content.values_mut().for_each(|m| nullable_optionals(&mut m["schema"]));
                    }
                }
            }
        }
    }
}

fn nullable_optionals(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    let required: Vec<String> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            nullable_optionals(prop);
            if !required.contains(name) && prop.get("default").is_none() {
                make_nullable(prop);
            }
        }
    }
    if let Some(items) = map.get_mut("items") {
        nullable_optionals(items);
    }
}

/// `nullable` next to a `$ref` is ignored by OpenAPI 3.0: wrap the reference first.
fn make_nullable(prop: &mut Value) {
    let Value::Object(map) = prop else { return };
    if let Some(reference) = map.remove("$ref") {
        map.insert("allOf".into(), json!([{"$ref": reference}]));
    }
    map.insert("nullable".into(), Value::Bool(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::new(&crate::routes::openapi_service("/").spec())
    }

    #[test]
    fn allowed_methods_follow_the_most_literal_path() {
        let s = spec();
        assert_eq!(s.allowed("/api/v1/tasks/counts"), Some(vec![Method::GET, Method::HEAD]));
        let task = s.allowed("/api/v1/tasks/7").unwrap();
        assert!(task.contains(&Method::GET) && task.contains(&Method::PATCH), "{task:?}");
        assert_eq!(s.allowed("/api/v1/tasks/7/approve"), Some(vec![Method::POST]));
        assert_eq!(s.allowed("/api/v1/nothing"), None);
        assert_eq!(s.allowed("/api/v1/tasks//approve"), None);
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_in_the_schema() {
        let doc: Value = serde_json::from_str(spec().document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["TaskSubmit"]["additionalProperties"], Value::Bool(false));
        assert_eq!(schemas["StepInput"]["additionalProperties"], Value::Bool(false));
        // Answers are not closed: a client may meet fields added later.
        assert!(schemas["Task"].get("additionalProperties").is_none());
    }

    fn doc() -> Value {
        serde_json::from_str(spec().document()).unwrap()
    }

    #[test]
    fn fields_with_a_default_are_optional_but_not_nullable() {
        let doc = doc();
        let submit = &doc["components"]["schemas"]["TaskSubmit"];
        let required = submit["required"].as_array().unwrap();
        for field in ["args", "hosts", "associated_users"] {
            assert!(!required.contains(&json!(field)), "{field}");
            assert!(submit["properties"][field].get("nullable").is_none(), "{field}");
        }
        assert!(required.contains(&json!("template_id")));
    }

    #[test]
    fn optional_fields_are_nullable_and_required_ones_are_not() {
        let doc: Value = serde_json::from_str(spec().document()).unwrap();
        let task = &doc["components"]["schemas"]["Task"]["properties"];
        assert_eq!(task["approval_deadline"]["nullable"], Value::Bool(true));
        assert_eq!(task["approval"]["nullable"], Value::Bool(true), "{}", task["approval"]);
        assert_eq!(task["approval"]["allOf"][0]["$ref"], "#/components/schemas/Approval");
        assert!(task["id"].get("nullable").is_none());
    }
}
