//! Commands, aliases, templates, hosts and credentials: CRUD and the checks on input.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

async fn commands_crud_and_bodies_must_parse(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let c = app
        .post(
            "/api/v1/commands",
            t,
            &json!({"name": "restart", "body": "systemctl restart {{ SERVICE }}", "timeout_secs": 30}),
        )
        .await
        .expect(201);
    assert_eq!(c["params"], json!(["SERVICE"]));
    assert_eq!(c["interpreter"], "bash");
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/commands/{id}");
    assert_eq!(app.get(&path, t).await.expect(200)["body"], "systemctl restart {{ SERVICE }}");
    let updated =
        app.put(&path, t, &json!({"name": "restart", "body": "systemctl restart {{ UNIT }}"})).await.expect(200);
    assert_eq!(updated["params"], json!(["UNIT"]));
    assert_eq!(app.get("/api/v1/commands", t).await.expect(200).as_array().unwrap().len(), 1);

    app.post("/api/v1/commands", t, &json!({"name": "bad", "body": "echo {{ X"})).await.expect_error(
        422,
        "invalid",
        Some("body"),
    );
    app.post("/api/v1/commands", t, &json!({"name": "", "body": "true"})).await.expect_error(
        422,
        "invalid",
        Some("name"),
    );
    app.post("/api/v1/commands", t, &json!({"name": "t", "body": "true", "timeout_secs": 0})).await.expect_error(
        422,
        "invalid",
        Some("timeout_secs"),
    );
    app.post("/api/v1/commands", t, &json!({"name": "t", "body": "true", "interpreter": "bash; rm"}))
        .await
        .expect_error(422, "invalid", Some("interpreter"));
    app.post("/api/v1/commands", t, &json!({"name": "restart", "body": "true"}))
        .await
        .expect_error(409, "conflict", None);
    app.post("/api/v1/commands", t, &json!({"name": "t", "body": "true", "colour": "red"})).await.expect_error(
        400,
        "invalid_body",
        None,
    );

    app.delete(&path, t).await.expect(204);
    app.get(&path, t).await.expect_error(404, "not_found", None);
    app.delete(&path, t).await.expect_error(404, "not_found", None);
}

async fn aliases_check_types_patterns_and_defaults(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let a = app
        .post("/api/v1/aliases", t, &json!({"key": "VERSION", "label": "版本", "pattern": "v[0-9]+", "default": "v1"}))
        .await
        .expect(201);
    assert_eq!(a["label"], "版本");
    assert_eq!(a["required"], false, "an alias with a default is optional unless said otherwise");
    assert_eq!(a["type"], "string");

    let bad = [
        (json!({"key": "1X", "label": "x"}), "key"),
        (json!({"key": "X", "label": "x", "pattern": "("}), "pattern"),
        (json!({"key": "X", "label": "x", "pattern": "v[0-9]+", "default": "latest"}), "default"),
        (json!({"key": "X", "label": "x", "type": "enum"}), "choices"),
        (json!({"key": "X", "label": "x", "type": "enum", "choices": ["a", "a"]}), "choices[1]"),
        (json!({"key": "X", "label": "x", "type": "int", "min": 5, "max": 1}), "min"),
        (json!({"key": "X", "label": "x", "type": "int", "default": "many"}), "default"),
        (json!({"key": "X", "label": "x", "type": "bool", "min": 1}), "min"),
    ];
    for (body, field) in bad {
        app.post("/api/v1/aliases", t, &body).await.expect_error(422, "invalid", Some(field));
    }
    app.post("/api/v1/aliases", t, &json!({"key": "X", "label": "x", "type": "float"})).await.expect_error(
        400,
        "invalid_body",
        Some("type"),
    );
    let e = app
        .post(
            "/api/v1/aliases",
            t,
            &json!({"key": "DEPLOY_ENV", "label": "Env", "type": "enum", "choices": ["qa", "prod"], "secret": false}),
        )
        .await
        .expect(201);
    let path = format!("/api/v1/aliases/{}", e["id"]);
    app.put(&path, t, &json!({"key": "DEPLOY_ENV", "label": "Environment", "type": "enum", "choices": ["qa"]}))
        .await
        .expect(200);
    app.delete(&path, t).await.expect(204);
    app.get(&path, t).await.expect(404);
}

async fn templates_validate_steps_and_derive_groups_and_params(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let cmd = app.post("/api/v1/commands", t, &json!({"name": "c", "body": "run {{ A }}"})).await.expect(201);
    let tpl = app
        .post(
            "/api/v1/templates",
            t,
            &json!({
                "name": "two groups",
                "extra_params": ["FROM_ENV"],
                "steps": [
                    {"name": "first", "group": "2", "command_id": cmd["id"], "retries": 2, "on_failure": "continue"},
                    {"name": "local", "group": "local", "script": "echo {{ B }} {{ TASK_ID }}", "trigger": "manual"},
                    {"name": "then", "group": "1", "script": "echo {{ A }}", "timeout_secs": 5}
                ]
            }),
        )
        .await
        .expect(201);
    assert_eq!(tpl["groups"], json!(["2", "local", "1"]), "groups run in the order the steps name them");
    assert_eq!(tpl["params"], json!(["A", "B", "FROM_ENV"]), "builtins such as TASK_ID are not parameters");
    assert_eq!(tpl["steps"][1]["trigger"], "manual");
    assert_eq!(tpl["steps"][0]["on_failure"], "continue");

    let step = |s: serde_json::Value| json!({"name": "t", "steps": [s]});
    let bad = [
        (json!({"name": "t", "steps": []}), "steps"),
        (step(json!({"name": "s", "group": "0", "script": "true"})), "steps[0].group"),
        (step(json!({"name": "s", "group": "1"})), "steps[0]"),
        (step(json!({"name": "s", "group": "1", "script": "true", "command_id": cmd["id"]})), "steps[0]"),
        (step(json!({"name": "s", "group": "1", "command_id": 999})), "steps[0].command_id"),
        (step(json!({"name": "s", "group": "1", "script": "{% if %}"})), "steps[0].script"),
        (step(json!({"name": "s", "group": "1", "script": "true", "retries": 11})), "steps[0].retries"),
        (step(json!({"name": "", "group": "1", "script": "true"})), "steps[0].name"),
        (
            json!({"name": "t", "extra_params": ["no-dash"], "steps": [{"name": "s", "group": "1", "script": "true"}]}),
            "extra_params[0]",
        ),
    ];
    for (body, field) in bad {
        app.post("/api/v1/templates", t, &body).await.expect_error(422, "invalid", Some(field));
    }
    app.post(
        "/api/v1/templates",
        t,
        &step(json!({"name": "s", "group": "1", "script": "true", "on_failure": "retry"})),
    )
    .await
    .expect_error(400, "invalid_body", Some("steps[0].on_failure"));

    // A command in use cannot be deleted; once the template is gone it can.
    let cmd_path = format!("/api/v1/commands/{}", cmd["id"]);
    let refused = app.delete(&cmd_path, t).await.expect_error(409, "conflict", None);
    assert!(refused["message"].as_str().unwrap().contains("two groups"));
    app.delete(&format!("/api/v1/templates/{}", tpl["id"]), t).await.expect(204);
    app.delete(&cmd_path, t).await.expect(204);
}

async fn credentials_are_write_only_and_encrypted_at_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtopsecretmaterial\n-----END OPENSSH PRIVATE KEY-----\n";
    let c = app
        .post(
            "/api/v1/credentials",
            t,
            &json!({"name": "deploy key", "kind": "private_key", "secret": key, "username": "deploy"}),
        )
        .await
        .expect(201);
    let listed = app.get("/api/v1/credentials", t).await.expect(200).to_string();
    let one = app.get(&format!("/api/v1/credentials/{}", c["id"]), t).await.expect(200).to_string();
    for answer in [c.to_string(), listed, one] {
        assert!(!answer.contains("topsecretmaterial"), "secret leaked: {answer}");
        assert!(!answer.contains("secret_enc"), "ciphertext leaked: {answer}");
    }
    let stored = app.stored_credential_secret(c["id"].as_i64().unwrap()).await;
    assert!(stored.starts_with("v1:") && !stored.contains("topsecretmaterial"), "stored as {stored}");

    app.post("/api/v1/credentials", t, &json!({"name": "k", "kind": "private_key", "secret": "hunter2"}))
        .await
        .expect_error(422, "invalid", Some("secret"));
    app.post("/api/v1/credentials", t, &json!({"name": "k", "kind": "password", "secret": ""})).await.expect_error(
        422,
        "invalid",
        Some("secret"),
    );
    app.post("/api/v1/credentials", t, &json!({"name": "k", "kind": "token", "secret": "x"})).await.expect_error(
        400,
        "invalid_body",
        Some("kind"),
    );
}

async fn a_credential_changes_without_its_secret_which_it_keeps(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAkeptmaterial\n-----END OPENSSH PRIVATE KEY-----\n";
    let c = app
        .post(
            "/api/v1/credentials",
            t,
            &json!({"name": "deploy key", "kind": "private_key", "secret": key, "passphrase": "pp-1"}),
        )
        .await
        .expect(201);
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/credentials/{id}");
    let secret_sql = "SELECT secret_enc FROM credentials WHERE id = $1";
    let passphrase_sql = "SELECT passphrase_enc FROM credentials WHERE id = $1";
    let changed = app
        .put(&path, t, &json!({"name": "deploy key 2", "kind": "private_key", "description": "rotated in May"}))
        .await
        .expect(200);
    assert_eq!(changed["description"], "rotated in May");
    assert_eq!(changed["name"], "deploy key 2");
    assert_eq!(app.query_decrypted(secret_sql, id).await, key, "the stored key is kept");
    assert_eq!(app.query_decrypted(passphrase_sql, id).await, "pp-1", "and its passphrase");
    // A new passphrase alone replaces the kept key's passphrase.
    app.put(&path, t, &json!({"name": "deploy key 2", "kind": "private_key", "passphrase": "pp-2"})).await.expect(200);
    assert_eq!(app.query_decrypted(secret_sql, id).await, key);
    assert_eq!(app.query_decrypted(passphrase_sql, id).await, "pp-2");
    // A kept private key cannot become a password; creating needs a secret.
    app.put(&path, t, &json!({"name": "deploy key 2", "kind": "password"})).await.expect_error(
        422,
        "invalid",
        Some("secret"),
    );
    app.post("/api/v1/credentials", t, &json!({"name": "empty", "kind": "password"})).await.expect_error(
        422,
        "invalid",
        Some("secret"),
    );
    // A new secret replaces the old one (and a passphrase not given is dropped with it).
    app.put(&path, t, &json!({"name": "pw now", "kind": "password", "secret": "n3w-pass"})).await.expect(200);
    assert_eq!(app.query_decrypted(secret_sql, id).await, "n3w-pass");
    let no_passphrase = app.query_text("SELECT COALESCE(passphrase_enc, '') FROM credentials WHERE id = $1", id).await;
    assert_eq!(no_passphrase, "", "no passphrase for a password");
    app.put("/api/v1/credentials/999999", t, &json!({"name": "x", "kind": "password"})).await.expect_error(
        404,
        "not_found",
        None,
    );
}

async fn hosts_validate_addresses_ports_keys_and_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let cred = app
        .post("/api/v1/credentials", t, &json!({"name": "pw", "kind": "password", "secret": "s3cret"}))
        .await
        .expect(201);
    let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    let h = app
        .post(
            "/api/v1/hosts",
            t,
            &json!({"name": "web-1", "address": "10.0.0.1", "port": 2222, "user": "deploy", "labels": ["web", "prod"],
                    "credential_id": cred["id"], "host_key_fingerprint": fp}),
        )
        .await
        .expect(201);
    assert_eq!(h["port"], 2222);
    assert_eq!(h["trust_on_first_use"], false);
    let bad = [
        (json!({"name": "h", "address": "10.0.0.1; rm -rf /"}), "address"),
        (json!({"name": "h", "address": "10.0.0.1", "port": 70000}), "port"),
        (json!({"name": "h", "address": "10.0.0.1", "host_key_fingerprint": "MD5:aa:bb"}), "host_key_fingerprint"),
        (json!({"name": "h", "address": "10.0.0.1", "credential_id": 999}), "credential_id"),
        (json!({"name": "h h", "address": "10.0.0.1"}), "name"),
        (json!({"name": "h", "address": "root@10.0.0.1"}), "address"),
    ];
    for (body, field) in bad {
        app.post("/api/v1/hosts", t, &body).await.expect_error(422, "invalid", Some(field));
    }
    app.post("/api/v1/hosts", t, &json!({"name": "h", "address": "10.0.0.1", "port": "22"})).await.expect_error(
        400,
        "invalid_body",
        Some("port"),
    );
    // A credential in use cannot be deleted.
    app.delete(&format!("/api/v1/credentials/{}", cred["id"]), t).await.expect_error(409, "conflict", None);
    app.delete(&format!("/api/v1/hosts/{}", h["id"]), t).await.expect(204);
    app.delete(&format!("/api/v1/credentials/{}", cred["id"]), t).await.expect(204);
}

/// A secret alias's default: never shown (aliases, a task's snapshot), encrypted at rest,
/// used in clear only by the run.
async fn secret_alias_defaults_are_masked_everywhere_and_encrypted_at_rest(backend: Backend) {
    const SECRET: &str = "s3cret-default-value";
    let mut app = spawn_app(backend).await;
    let t = app.admin_token.clone();
    let alias = app
        .post(
            "/api/v1/aliases",
            &t,
            &json!({"key": "DB_PASSWORD", "label": "DB password", "secret": true, "default": SECRET}),
        )
        .await
        .expect(201);
    let id = alias["id"].as_i64().unwrap();
    assert_eq!(alias["default"], "******");
    let stored = app.query_text("SELECT default_value FROM aliases WHERE id = $1", id).await;
    assert!(stored.starts_with("v1:") && !stored.contains(SECRET), "stored as {stored}");
    let tpl = app
        .template(
            "db",
            json!({"extra_params": ["DB_PASSWORD"]}),
            // Compared upper-cased, so that the body does not hold the secret itself.
            json!([{"name": "check", "group": "local",
                    "script": format!("test \"$(printf %s \"$DB_PASSWORD\" | tr a-z A-Z)\" = '{}'", SECRET.to_uppercase())}]),
        )
        .await;
    let viewer = app.user("vic", "viewer", &[]).await;
    let task = app.run_task(tpl, json!({}), json!({})).await;
    let run = app.wait_status(task, &["success", "failed"]).await;
    assert_eq!(run["status"], "success", "the run gets the default in clear: {run}");
    for path in ["/api/v1/aliases".to_string(), format!("/api/v1/aliases/{id}"), format!("/api/v1/tasks/{task}")] {
        let answer = app.get(&path, &viewer).await.expect(200).to_string();
        assert!(!answer.contains(SECRET), "{path} shows the secret default: {answer}");
    }
    let shown = app.get(&format!("/api/v1/tasks/{task}"), &viewer).await.expect(200);
    assert_eq!(shown["template_snapshot"]["params"][0]["default"], "******");
    assert_eq!(shown["args"]["DB_PASSWORD"], "******");
    let snapshot = app.query_text("SELECT template_snapshot FROM tasks WHERE id = $1", task).await;
    assert!(!snapshot.contains(SECRET), "the task's snapshot keeps it in clear: {snapshot}");

    // Sent back masked, the default is kept; a submission naming the mask gets the default.
    let edit = json!({"key": "DB_PASSWORD", "label": "DB password (prod)", "secret": true, "default": "******"});
    app.put(&format!("/api/v1/aliases/{id}"), &t, &edit).await.expect(200);
    let again = app.run_task(tpl, json!({"DB_PASSWORD": "******"}), json!({})).await;
    assert_eq!(app.wait_status(again, &["success", "failed"]).await["status"], "success");
    app.post("/api/v1/aliases", &t, &json!({"key": "OTHER", "label": "o", "secret": true, "default": "******"}))
        .await
        .expect_error(422, "invalid", Some("default"));

    // A default an older version kept in clear is encrypted at the next start.
    app.execute_text("UPDATE aliases SET default_value = $1 WHERE id = $2", SECRET, id).await;
    app.restart().await;
    let stored = app.query_text("SELECT default_value FROM aliases WHERE id = $1", id).await;
    assert!(stored.starts_with("v1:") && !stored.contains(SECRET), "not sealed at start: {stored}");
    let third = app.run_task(tpl, json!({}), json!({})).await;
    assert_eq!(app.wait_status(third, &["success", "failed"]).await["status"], "success");
}

both_backends!(
    secret_alias_defaults_are_masked_everywhere_and_encrypted_at_rest,
    commands_crud_and_bodies_must_parse,
    aliases_check_types_patterns_and_defaults,
    templates_validate_steps_and_derive_groups_and_params,
    credentials_are_write_only_and_encrypted_at_rest,
    a_credential_changes_without_its_secret_which_it_keeps,
    hosts_validate_addresses_ports_keys_and_credentials,
);
