//! The rules the services check on input, stated in the served document where
//! poem-openapi's `validator` attributes on the api-types fields cannot reach: parameters
//! (whose validators would have poem answer 400 before the service's 422), lists inside
//! maps, value sets known only at run time, and rules that tie one field to another.

use api_types::{validate::patterns, TaskStatus};
use serde_json::{json, Map, Value};

use crate::tasks::{inputs::MAX_HOSTS_PER_GROUP, runs::LOG_LIMIT_MAX, service::SEARCH_MAX_CHARS};
use crate::{MAX_OFFSET, PER_PAGE_MAX};

/// Every string in a request body refuses NUL (`http::strict`): the no-NUL pattern on
/// each string schema in `schema` without a pattern of its own (those of
/// `validate::patterns` all refuse NUL) or a list of values.
pub(super) fn strings_refuse_nul(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    let plain_string = map.get("type").and_then(Value::as_str) == Some("string")
        && !["enum", "pattern", "format"].iter().any(|k| map.contains_key(*k));
    if plain_string {
        map.insert("pattern".into(), patterns::NO_NUL.into());
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(strings_refuse_nul);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = map.get_mut(key) {
            strings_refuse_nul(inner);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = map.get_mut(key) {
            list.iter_mut().for_each(strings_refuse_nul);
        }
    }
}

/// The request fields that map host groups to host lists (`tasks::inputs::check_hosts`
/// checks them): poem-openapi's validators cannot reach the lists inside the map.
const HOST_LISTS: [(&str, &str); 4] =
    [("TaskSubmit", "hosts"), ("TaskUpdate", "hosts"), ("ScheduleInput", "hosts"), ("GitlabRuleInput", "hosts")];

pub(super) fn host_lists_are_bounded(doc: &mut Value) {
    for (schema, field) in HOST_LISTS {
        let pointer = format!("/components/schemas/{schema}/properties/{field}/additionalProperties");
        let Some(Value::Object(list)) = doc.pointer_mut(&pointer) else { continue };
        list.insert("minItems".into(), 1.into());
        list.insert("maxItems".into(), MAX_HOSTS_PER_GROUP.into());
        if let Some(Value::Object(item)) = list.get_mut("items") {
            item.insert("pattern".into(), patterns::HOST_ENTRY_TRIMMED.into());
        }
    }
}

/// What a cron expression's fields may hold cannot be said in a pattern short of a
/// grammar; an example shows one the server takes (and is where generators start).
const CRON_EXAMPLE: &str = "30 2 * * *";

/// A schedule's time zone is one of the tz database's names (`schedules::parse_timezone`
/// looks it up as spelled): list them; absent or null means the server's. And its cron
/// expression gets an example.
pub(super) fn schedules_are_described(doc: &mut Value) {
    let Some(Value::Object(zone)) = doc.pointer_mut("/components/schemas/ScheduleInput/properties/timezone") else {
        return;
    };
    let mut names: Vec<Value> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name().into()).collect();
    names.push(Value::Null);
    zone.insert("enum".into(), names.into());
    if let Some(Value::Object(cron)) = doc.pointer_mut("/components/schemas/ScheduleInput/properties/cron") {
        cron.insert("example".into(), CRON_EXAMPLE.into());
    }
}

/// What a credential's secret is depends on its kind (`catalogue::credentials`): a
/// private key's text starts with `-----BEGIN `, and a password has no passphrase. Said
/// as one complete object schema per kind: generators read a partial branch on its own.
pub(super) fn credential_kinds_are_told_apart(doc: &mut Value) {
    let Some(input) = doc.pointer_mut("/components/schemas/CredentialInput") else { return };
    let Value::Object(mut base) = input.take() else { return };
    let title = base.remove("title");
    let description = base.remove("description");
    let kind = |name: &str, secret: Option<&str>, passphrase: Option<Value>| {
        let mut branch = Value::Object(base.clone());
        branch["title"] = format!("CredentialInput ({name})").into();
        branch["properties"]["kind"] = json!({"type": "string", "enum": [name]});
        if let Some(pattern) = secret {
            branch["properties"]["secret"]["pattern"] = pattern.into();
        }
        if let Some(schema) = passphrase {
            branch["properties"]["passphrase"] = schema;
        }
        branch
    };
    let mut one_of = Map::new();
    if let Some(title) = title {
        one_of.insert("title".into(), title);
    }
    if let Some(description) = description {
        one_of.insert("description".into(), description);
    }
    one_of.insert(
        "oneOf".into(),
        json!([
            kind("private_key", Some(patterns::PRIVATE_KEY), None),
            kind(
                "password",
                None,
                Some(json!({"type": "string", "nullable": true, "enum": [null],
                            "description": "A password has no passphrase."}))
            ),
        ]),
    );
    *input = Value::Object(one_of);
}

/// A GitLab rule is created with a secret; replacing one without a secret keeps the old
/// one (`gitlab::save`). The two operations share a type: give creation its own schema.
pub(super) fn a_new_gitlab_rule_needs_a_secret(doc: &mut Value) {
    let Some(mut create) = doc.pointer("/components/schemas/GitlabRuleInput").cloned() else { return };
    create["title"] = "GitlabRuleCreate".into();
    if let Some(Value::Object(secret)) = create.pointer_mut("/properties/secret") {
        secret.remove("nullable");
    }
    if let Some(Value::Array(required)) = create.get_mut("required") {
        required.push("secret".into());
    }
    doc["components"]["schemas"]["GitlabRuleCreate"] = create;
    let body = "/paths/~1api~1v1~1gitlab~1rules/post/requestBody/content/application~1json; charset=utf-8/schema";
    if let Some(schema) = doc.pointer_mut(body) {
        *schema = json!({"$ref": "#/components/schemas/GitlabRuleCreate"});
    }
}

/// The rules the services check on query and path parameters, stated from the constants
/// they check with. (As poem-openapi validators on the parameters, poem would refuse a
/// value out of range itself, with 400, before the service answers 422 naming it.)
pub(super) fn parameters_are_bounded(doc: &mut Value) {
    let statuses = TaskStatus::ALL.map(TaskStatus::as_str).join("|");
    let status = format!("{ws}*(?:{statuses}){ws}*", ws = patterns::WHITESPACE);
    let rules: Vec<(Option<&str>, &str, Value)> = vec![
        (
            None,
            "page",
            json!({"minimum": 1, "maximum": MAX_OFFSET + 1,
                   "description": format!("From 1; `(page - 1) × per_page` may be at most {MAX_OFFSET}.")}),
        ),
        (None, "per_page", json!({"minimum": 1, "maximum": PER_PAGE_MAX, "description": "Items per page."})),
        (
            Some("task_logs"),
            "limit",
            json!({"minimum": 1, "maximum": LOG_LIMIT_MAX, "description": "Lines per page (default 1000)."}),
        ),
        (
            Some("list_tasks"),
            "status",
            json!({"pattern": format!("^(?:{status}(?:,{status})*)?$"),
                   "description": "Statuses, comma-separated."}),
        ),
        (
            Some("list_tasks"),
            "q",
            json!({"maxLength": SEARCH_MAX_CHARS,
                   "description": "Text in the name, details or template name, or a task id."}),
        ),
    ];
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|ops| ops.values_mut()) {
        let id = op.get("operationId").and_then(Value::as_str).map(str::to_string);
        let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
        for param in params {
            let name = param["name"].as_str().unwrap_or_default().to_string();
            let place = param["in"].as_str().unwrap_or_default().to_string();
            for (_, _, rule) in
                rules.iter().filter(|(op, n, _)| *n == name && op.is_none_or(|o| Some(o) == id.as_deref()))
            {
                for (key, value) in rule.as_object().into_iter().flatten() {
                    if key == "description" {
                        param[key] = value.clone();
                    } else {
                        param["schema"][key] = value.clone();
                    }
                }
            }
            // Every path and query string is refused when it holds NUL (`http::payload`).
            let schema = &mut param["schema"];
            if matches!(place.as_str(), "query" | "path")
                && schema["type"] == "string"
                && schema.get("pattern").is_none()
            {
                schema["pattern"] = patterns::NO_NUL.into();
            }
        }
    }
}

/// poem-openapi writes `minimum` and `maximum` as floats (`1000.0`); for integers, say them
/// as integers.
pub(super) fn bounds_are_integers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), v.as_f64()) {
                    ("minimum" | "maximum", Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => *v = json!(f as i64),
                    _ => bounds_are_integers(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bounds_are_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let spec = super::super::Spec::new(&crate::routes::openapi_service("/").spec());
        serde_json::from_str(spec.document()).unwrap()
    }

    fn parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        &params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} has no {name}"))["schema"]
    }

    #[test]
    fn paging_parameters_state_the_limits_the_server_checks() {
        let doc = doc();
        for path in ["/api/v1/tasks", "/api/v1/audit"] {
            assert_eq!(parameter(&doc, path, "page")["minimum"], json!(1));
            assert_eq!(parameter(&doc, path, "page")["maximum"], json!(MAX_OFFSET + 1));
            assert_eq!(parameter(&doc, path, "per_page")["minimum"], json!(1));
            assert_eq!(parameter(&doc, path, "per_page")["maximum"], json!(PER_PAGE_MAX));
        }
        let limit = parameter(&doc, "/api/v1/tasks/{id}/logs", "limit");
        assert_eq!((&limit["minimum"], &limit["maximum"]), (&json!(1), &json!(LOG_LIMIT_MAX)));
        // Only where the server checks it: `after` takes any number.
        assert!(parameter(&doc, "/api/v1/tasks/{id}/logs", "after").get("minimum").is_none());
        assert_eq!(parameter(&doc, "/api/v1/tasks", "q")["maxLength"], json!(SEARCH_MAX_CHARS));
    }

    #[test]
    fn the_status_filter_pattern_takes_what_the_task_list_takes() {
        let doc = doc();
        let re = regex::Regex::new(parameter(&doc, "/api/v1/tasks", "status")["pattern"].as_str().unwrap()).unwrap();
        for ok in ["", "new", "new,ready", " new , failed\t", "interrupted,new,new"] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        for bad in ["NEW", "new,", ",new", "new;ready", "news", "new\0"] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
    }

    /// The strings a request can carry, with where they are.
    fn request_strings(doc: &Value) -> Vec<(String, Value)> {
        fn walk(doc: &Value, schema: &Value, at: String, seen: &mut Vec<String>, out: &mut Vec<(String, Value)>) {
            if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
                if !seen.contains(&name.to_string()) {
                    seen.push(name.to_string());
                    walk(doc, &doc["components"]["schemas"][name], name.to_string(), seen, out);
                }
                return;
            }
            if schema["type"] == "string" {
                out.push((at.clone(), schema.clone()));
            }
            for (key, inner) in schema.as_object().into_iter().flatten() {
                match (key.as_str(), inner) {
                    ("properties", Value::Object(props)) => {
                        props.iter().for_each(|(k, v)| walk(doc, v, format!("{at}.{k}"), seen, out))
                    }
                    ("items" | "additionalProperties", v) => walk(doc, v, format!("{at}[]"), seen, out),
                    ("allOf" | "anyOf" | "oneOf", Value::Array(list)) => {
                        list.iter().for_each(|v| walk(doc, v, at.clone(), seen, out))
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for media in op.pointer("/requestBody/content").and_then(Value::as_object).into_iter().flatten() {
                    walk(doc, &media.1["schema"], format!("{method} {path}"), &mut seen, &mut out);
                }
                for param in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] != "header") {
                    walk(doc, &param["schema"], format!("{method} {path} {}", param["name"]), &mut seen, &mut out);
                }
            }
        }
        out
    }

    #[test]
    fn every_pattern_a_request_meets_is_one_whose_rule_is_tested() {
        // `api_types::validate` tests each of these against the rule it states; the field
        // attributes repeat them literally, so a typo there shows up here.
        let known = [
            patterns::NAME,
            patterns::NAME_OR_BLANK,
            patterns::NOT_BLANK,
            patterns::USERNAME,
            patterns::PARAM_KEY,
            patterns::GROUP,
            patterns::HOST_ENTRY,
            patterns::HOST_ENTRY_TRIMMED,
            patterns::HOST_ADDRESS,
            patterns::EMAIL,
            patterns::INTERPRETER,
            patterns::FINGERPRINT,
            patterns::TICKET_PATH,
            patterns::CRON_FIELDS,
            patterns::PRIVATE_KEY,
            patterns::NO_NUL,
        ];
        let doc = doc();
        let status = parameter(&doc, "/api/v1/tasks", "status")["pattern"].as_str().unwrap().to_string();
        let found: Vec<(String, String)> = request_strings(&doc)
            .into_iter()
            .filter_map(|(at, schema)| schema["pattern"].as_str().map(|p| (at, p.to_string())))
            .collect();
        assert!(found.len() > 50, "{}", found.len());
        for (at, pattern) in found {
            assert!(known.contains(&pattern.as_str()) || pattern == status, "{at}: {pattern}");
        }
    }

    #[test]
    fn every_string_a_request_carries_refuses_nul_in_the_schema() {
        let doc = doc();
        let strings = request_strings(&doc);
        assert!(strings.len() > 80, "{}", strings.len());
        for (at, schema) in strings {
            let refuses_nul = match (schema.get("enum"), schema["pattern"].as_str()) {
                (Some(_), _) => true,
                (None, Some(p)) => {
                    !regex::Regex::new(p).unwrap().is_match("a\0") && !regex::Regex::new(p).unwrap().is_match("\0")
                }
                (None, None) => false,
            };
            assert!(refuses_nul, "{at}: {schema}");
        }
    }

    #[test]
    fn the_interpreter_pattern_is_the_interpreter_rule() {
        let re = regex::Regex::new(patterns::INTERPRETER).unwrap();
        let long = "x".repeat(64);
        let longer = "x".repeat(65);
        for s in ["", "bash", "/usr/bin/python3", "py-3.11_x", "a b", "ba;sh", "bash\n", "é", &long, &longer] {
            let rule = crate::catalogue::commands::check_interpreter("interpreter", s).is_ok();
            assert_eq!(re.is_match(s), rule, "{s:?}");
        }
    }

    #[test]
    fn the_cron_pattern_takes_every_expression_the_schedules_take() {
        let re = regex::Regex::new(patterns::CRON_FIELDS).unwrap();
        let good = [
            "30 2 * * *",
            "0 30 2 * * *",
            " */5 * * * MON-FRI\n",
            "0\u{3000}0 1 1\t*",
            "1 2 3 4 5\u{85}6",
            "0 0 * * \u{17f}at",
            "0 0 * * FR\u{131}",
        ];
        for s in good {
            assert!(crate::schedules::parse_cron("cron", s).is_ok() && re.is_match(s), "{s:?}");
        }
        let example = &doc()["components"]["schemas"]["ScheduleInput"]["properties"]["cron"]["example"];
        assert_eq!(example, CRON_EXAMPLE);
        assert!(crate::schedules::parse_cron("cron", CRON_EXAMPLE).is_ok() && re.is_match(CRON_EXAMPLE));
        // The pattern says the shape; what the fields hold is the parser's to refuse.
        for s in ["x x x x x", "99 * * * *"] {
            assert!(crate::schedules::parse_cron("cron", s).is_err() && re.is_match(s), "{s:?}");
        }
        for s in [
            "",
            "* * * *",
            "* * * * * * *",
            "@daily",
            "*\u{0}* * * *",
            "* * * *\u{feff}*",
            "0 0 * * $",
            "* * * * \u{e9}",
        ] {
            assert!(crate::schedules::parse_cron("cron", s).is_err() && !re.is_match(s), "{s:?}");
        }
    }

    #[test]
    fn a_schedules_time_zone_is_one_the_server_reads() {
        let doc = doc();
        let zones = doc["components"]["schemas"]["ScheduleInput"]["properties"]["timezone"]["enum"].as_array().unwrap();
        assert!(zones.len() > 400, "{}", zones.len());
        for zone in zones.iter().filter_map(Value::as_str) {
            assert!(crate::schedules::parse_timezone("timezone", zone).is_ok(), "{zone}");
        }
        assert!(zones.contains(&json!("Asia/Shanghai")) && zones.contains(&Value::Null));
    }

    #[test]
    fn a_private_key_is_told_by_its_first_line() {
        let re = regex::Regex::new(patterns::PRIVATE_KEY).unwrap();
        let samples = [
            "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            " \n\u{3000}-----BEGIN RSA",
            "-----BEGIN",
            "x-----BEGIN ",
            "",
            "-----BEGIN \0",
        ];
        for s in samples {
            // `catalogue::credentials` refuses a private key whose text does not start so.
            assert_eq!(re.is_match(s), s.trim_start().starts_with("-----BEGIN ") && !s.contains('\0'), "{s:?}");
        }
        let doc = doc();
        let kinds = doc["components"]["schemas"]["CredentialInput"]["oneOf"].as_array().unwrap();
        let kind_names: Vec<&Value> = kinds.iter().map(|k| &k["properties"]["kind"]["enum"][0]).collect();
        assert_eq!(kind_names, [&json!("private_key"), &json!("password")]);
        for kind in kinds {
            // Each kind is a whole object: closed, with every field and its rules.
            assert_eq!(kind["additionalProperties"], json!(false));
            assert_eq!(kind["properties"]["name"]["maxLength"], json!(100));
            // The secret is required to create (422 naming it) and left out to keep it on PUT.
            assert_eq!(kind["required"], json!(["name", "kind"]));
        }
        assert_eq!(kinds[1]["properties"]["passphrase"]["enum"], json!([null]));
    }

    #[test]
    fn a_gitlab_rule_is_created_with_a_secret_and_replaced_with_or_without() {
        let doc = doc();
        let rules = &doc["paths"]["/api/v1/gitlab/rules"]["post"]["requestBody"]["content"];
        assert_eq!(rules["application/json; charset=utf-8"]["schema"]["$ref"], "#/components/schemas/GitlabRuleCreate");
        let create = &doc["components"]["schemas"]["GitlabRuleCreate"];
        assert!(create["required"].as_array().unwrap().contains(&json!("secret")));
        assert!(create["properties"]["secret"].get("nullable").is_none());
        assert_eq!(create["additionalProperties"], json!(false));
        let replace = &doc["components"]["schemas"]["GitlabRuleInput"];
        assert!(!replace["required"].as_array().unwrap().contains(&json!("secret")));
        assert_eq!(replace["properties"]["secret"]["nullable"], json!(true));
    }

    #[test]
    fn host_lists_are_bounded_and_their_entries_shaped() {
        let doc = doc();
        for (schema, field) in HOST_LISTS {
            let list = &doc["components"]["schemas"][schema]["properties"][field]["additionalProperties"];
            assert_eq!(list["minItems"], json!(1), "{schema}");
            assert_eq!(list["maxItems"], json!(MAX_HOSTS_PER_GROUP), "{schema}");
            assert_eq!(list["items"]["pattern"], json!(patterns::HOST_ENTRY_TRIMMED), "{schema}");
        }
    }

    #[test]
    fn bounds_are_written_as_integers() {
        let doc = doc();
        let concurrency = &doc["components"]["schemas"]["TaskSubmit"]["properties"]["concurrency"];
        assert_eq!(concurrency["maximum"].as_i64(), Some(1000), "{concurrency}");
    }
}
