//! The served OpenAPI document states the rules the server holds requests to: at each
//! edge the document states, the value inside is accepted and the one outside refused
//! with 422 naming the field. (Schemathesis sends what the document forbids and fails
//! the build when the server takes it; these tests pin the edges and the characters
//! where a schema's idea of a rule and the server's most easily part.)

use regex::Regex;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

async fn document(app: &TestApp) -> Value {
    app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap()
}

/// The schema of `field` in component `schema` (of its first `oneOf` branch, if split).
fn field<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    let component = &doc["components"]["schemas"][schema];
    let component = component.get("oneOf").map_or(component, |kinds| &kinds[0]);
    let found = &component["properties"][field];
    assert!(found.is_object(), "the document has no {schema}.{field}");
    found
}

/// The schema of query parameter `name` of `GET path`.
fn query<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
    &params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("GET {path} has no {name}"))["schema"]
}

/// A bound the document must state.
#[track_caller]
fn bound(schema: &Value, key: &str) -> i64 {
    schema[key].as_i64().unwrap_or_else(|| panic!("the document states no {key} in {schema}"))
}

#[track_caller]
fn matches(schema: &Value, value: &str) -> bool {
    let pattern = schema["pattern"].as_str().unwrap_or_else(|| panic!("the document states no pattern in {schema}"));
    Regex::new(pattern).unwrap().is_match(value)
}

async fn body_fields_are_held_to_the_edges_the_document_states(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    let t = &app.admin_token;
    let token = |name: &str, days: Option<i64>| json!({"name": name, "expires_in_days": days});

    // Lengths count characters, as the server does: 100 CJK characters are 300 bytes.
    let name = field(&doc, "TokenCreate", "name");
    let max = bound(name, "maxLength") as usize;
    app.post("/api/v1/tokens", t, &token(&"版".repeat(max), None)).await.expect(201);
    app.post("/api/v1/tokens", t, &token(&"版".repeat(max + 1), None)).await.expect_error(422, "invalid", Some("name"));
    // Whitespace as the server trims it, not as ECMA's `\s` sees it: U+FEFF is a name,
    // U+0085 a control character, U+3000 blank.
    for (value, taken) in [("\u{feff}", true), ("\u{3000}x", true), ("\u{85}x", false), ("\u{3000}", false)] {
        assert_eq!(matches(name, value), taken, "{value:?}");
        let answer = app.post("/api/v1/tokens", t, &token(value, None)).await;
        if taken {
            answer.expect(201);
        } else {
            answer.expect_error(422, "invalid", Some("name"));
        }
    }
    let days = field(&doc, "TokenCreate", "expires_in_days");
    for value in [bound(days, "minimum"), bound(days, "maximum")] {
        app.post("/api/v1/tokens", t, &token("edge", Some(value))).await.expect(201);
    }
    for value in [bound(days, "minimum") - 1, bound(days, "maximum") + 1] {
        app.post("/api/v1/tokens", t, &token("edge", Some(value))).await.expect_error(
            422,
            "invalid",
            Some("expires_in_days"),
        );
    }

    // A password's least length counts characters too; its username has a pattern.
    let password = field(&doc, "UserCreate", "password");
    let min = bound(password, "minLength") as usize;
    let user = |username: &str, password: &str| json!({"username": username, "password": password, "role": "viewer"});
    app.post("/api/v1/users", t, &user("short", &"é".repeat(min - 1))).await.expect_error(
        422,
        "invalid",
        Some("password"),
    );
    let longest = "u".repeat(64);
    assert!(matches(field(&doc, "UserCreate", "username"), &longest));
    app.post("/api/v1/users", t, &user(&longest, &"é".repeat(min))).await.expect(201);
    let too_long = "u".repeat(65);
    assert!(!matches(field(&doc, "UserCreate", "username"), &too_long));
    app.post("/api/v1/users", t, &user(&too_long, &"é".repeat(min))).await.expect_error(
        422,
        "invalid",
        Some("username"),
    );

    let port = field(&doc, "HostInput", "port");
    let host = |address: &str, port: i64| json!({"name": format!("h{port}"), "address": address, "port": port});
    app.post("/api/v1/hosts", t, &host("[::1]", bound(port, "maximum"))).await.expect(201);
    app.post("/api/v1/hosts", t, &host("10.0.0.1", bound(port, "maximum") + 1)).await.expect_error(
        422,
        "invalid",
        Some("port"),
    );
    assert!(!matches(field(&doc, "HostInput", "address"), "deploy@10.0.0.1"));
    app.post("/api/v1/hosts", t, &host("deploy@10.0.0.1", 22)).await.expect_error(422, "invalid", Some("address"));

    let timeout = field(&doc, "Policy", "approval_timeout_secs");
    let policy = |secs: i64| json!({"allow_self_approval": false, "approval_timeout_secs": secs});
    app.put("/api/v1/policy", t, &policy(bound(timeout, "maximum"))).await.expect(200);
    app.put("/api/v1/policy", t, &policy(bound(timeout, "maximum") + 1)).await.expect_error(
        422,
        "invalid",
        Some("approval_timeout_secs"),
    );

    // A private key's text is told by its first line; a password takes no passphrase.
    let kinds = doc["components"]["schemas"]["CredentialInput"]["oneOf"].as_array().unwrap();
    assert!(!matches(&kinds[0]["properties"]["secret"], "ssh-rsa AAAA"));
    let key = json!({"name": "k", "kind": "private_key", "secret": "ssh-rsa AAAA"});
    app.post("/api/v1/credentials", t, &key).await.expect_error(422, "invalid", Some("secret"));
    assert_eq!(kinds[1]["properties"]["passphrase"]["enum"], json!([null]));
    let password = json!({"name": "p", "kind": "password", "secret": "pw", "passphrase": "x"});
    app.post("/api/v1/credentials", t, &password).await.expect_error(422, "invalid", Some("passphrase"));
    let password = json!({"name": "p", "kind": "password", "secret": "pw", "passphrase": null});
    app.post("/api/v1/credentials", t, &password).await.expect(201);
}

async fn query_parameters_are_held_to_the_limits_the_document_states(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    let t = &app.admin_token;

    for path in ["/api/v1/tasks", "/api/v1/audit"] {
        let per_page = query(&doc, path, "per_page");
        let page = query(&doc, path, "page");
        let (most, least) = (bound(per_page, "maximum"), bound(per_page, "minimum"));
        app.get(&format!("{path}?per_page={most}"), t).await.expect(200);
        for bad in [least - 1, most + 1] {
            app.get(&format!("{path}?per_page={bad}"), t).await.expect_error(422, "invalid", Some("per_page"));
        }
        // The last page the document allows is one the server serves (with one a page).
        let last = bound(page, "maximum");
        app.get(&format!("{path}?per_page=1&page={last}"), t).await.expect(200);
        app.get(&format!("{path}?per_page=1&page={}", last + 1), t).await.expect_error(422, "invalid", Some("page"));
        app.get(&format!("{path}?page={}", bound(page, "minimum") - 1), t).await.expect_error(
            422,
            "invalid",
            Some("page"),
        );
    }

    let status = query(&doc, "/api/v1/tasks", "status");
    assert!(matches(status, " new ,ready"));
    app.get("/api/v1/tasks?status=%20new%20,ready", t).await.expect(200);
    assert!(!matches(status, "new,"));
    app.get("/api/v1/tasks?status=new,", t).await.expect_error(422, "invalid", Some("status"));
    let q = query(&doc, "/api/v1/tasks", "q");
    let max = bound(q, "maxLength") as usize;
    app.get(&format!("/api/v1/tasks?q={}", "版".repeat(max)), t).await.expect(200);
    app.get(&format!("/api/v1/tasks?q={}", "版".repeat(max + 1)), t).await.expect_error(422, "invalid", Some("q"));
    // NUL, which every query string refuses.
    assert!(!matches(query(&doc, "/api/v1/tasks", "submitter"), "a\0"));
    app.get("/api/v1/tasks?submitter=a%00", t).await.expect_error(422, "invalid", Some("submitter"));

    let template = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "local", "steps": [{"name": "s", "group": "local", "script": "true"}]}),
        )
        .await
        .expect(201);
    let task =
        app.post("/api/v1/tasks", t, &json!({"template_id": template["id"], "schedule": "new"})).await.expect(201);
    let logs = format!("/api/v1/tasks/{}/logs", task["id"]);
    let limit = query(&doc, "/api/v1/tasks/{id}/logs", "limit");
    app.get(&format!("{logs}?limit={}", bound(limit, "maximum")), t).await.expect(200);
    app.get(&format!("{logs}?limit={}", bound(limit, "maximum") + 1), t).await.expect_error(
        422,
        "invalid",
        Some("limit"),
    );
    app.send(Method::GET, &format!("{logs}?limit={}", bound(limit, "minimum") - 1), Some(t), None).await.expect_error(
        422,
        "invalid",
        Some("limit"),
    );
}

both_backends!(
    body_fields_are_held_to_the_edges_the_document_states,
    query_parameters_are_held_to_the_limits_the_document_states,
);
