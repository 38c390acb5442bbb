//! The GitLab webhook and its rules: tasks for matching tags with the right token only.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Answer, Backend, TestApp};

const QA_SECRET: &str = "qa-secret-0123456789";
const RELEASE_SECRET: &str = "release-secret-0123456789";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn tag_push(project: &str, tag: &str, after: &str) -> Value {
    json!({
        "object_kind": "tag_push", "event_name": "tag_push",
        "before": ZERO, "after": after, "ref": format!("refs/tags/{tag}"),
        "checkout_sha": after, "user_username": "dev1", "user_name": "Dev One",
        "project": {"id": 15, "name": "app", "path_with_namespace": project},
        "commits": [], "total_commits_count": 0
    })
}

async fn hook(app: &TestApp, event: Option<&str>, token: Option<&str>, body: &str) -> Answer {
    let mut req = app.client.post(app.url("/api/v1/hooks/gitlab")).header("content-type", "application/json");
    if let Some(e) = event {
        req = req.header("X-Gitlab-Event", e);
    }
    if let Some(t) = token {
        req = req.header("X-Gitlab-Token", t);
    }
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer { status, body }
}

async fn rules(app: &TestApp) -> i64 {
    let template = app.deploy_template().await;
    for (name, pattern, schedule, secret) in
        [("qa", "^qa-", "ready", QA_SECRET), ("release", "^release-", "new", RELEASE_SECRET)]
    {
        let body = json!({"name": name, "project": "group/app", "tag_pattern": pattern, "template_id": template,
                          "hosts": {"1": ["web1"], "2": ["api1"]}, "schedule": schedule, "secret": secret});
        let rule = app.post("/api/v1/gitlab/rules", &app.admin_token, &body).await.expect(201);
        assert!(rule.get("secret").is_none() && !rule.to_string().contains(secret), "the secret is never shown");
    }
    template
}

async fn tag_pushes_create_tasks_only_for_matching_rules_and_the_right_token(backend: Backend) {
    let app = spawn_app(backend).await;
    rules(&app).await;
    let event = Some("Tag Push Hook");
    let sha = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

    let qa = hook(&app, event, Some(QA_SECRET), &tag_push("group/app", "qa-1.2", sha).to_string()).await.expect(200);
    assert_eq!(qa["status"], "created", "{qa}");
    let qa_id = qa["tasks"][0].as_i64().unwrap();
    let task = app.get(&format!("/api/v1/tasks/{qa_id}"), &app.admin_token).await.expect(200);
    assert_eq!(task["args"]["TAG"], "qa-1.2");
    assert_eq!(task["schedule"], "ready");
    assert_eq!(task["source"], "gitlab");
    assert_eq!(task["submitter"], "admin", "submitted as the rule's owner");
    assert_eq!(task["hosts"], json!({"1": ["web1"], "2": ["api1"]}));
    assert!(task["details"].as_str().unwrap().contains("dev1"), "{}", task["details"]);

    let rel = hook(&app, event, Some(RELEASE_SECRET), &tag_push("group/app", "release-2.0", sha).to_string()).await;
    let rel = rel.expect(200);
    let rel_task = app.get(&format!("/api/v1/tasks/{}", rel["tasks"][0]), &app.admin_token).await.expect(200);
    assert_eq!((rel_task["status"].as_str(), rel_task["args"]["TAG"].as_str()), (Some("new"), Some("release-2.0")));

    // A right token for a rule whose pattern does not match creates nothing.
    let other = hook(&app, event, Some(RELEASE_SECRET), &tag_push("group/app", "qa-1.3", sha).to_string()).await;
    assert_eq!(other.expect(200)["status"], "ignored");

    // Wrong, missing or another rule's token: refused.
    let body = tag_push("group/app", "qa-1.4", sha).to_string();
    hook(&app, event, Some("not-the-secret-at-all"), &body).await.expect_error(401, "unauthorized", None);
    hook(&app, event, None, &body).await.expect_error(401, "unauthorized", None);

    // Deletions and other events are acknowledged, with a reason, and create nothing.
    let deleted = hook(&app, event, Some(QA_SECRET), &tag_push("group/app", "qa-1.2", ZERO).to_string()).await;
    let deleted = deleted.expect(200);
    assert_eq!(deleted["status"], "ignored");
    assert!(deleted["reason"].as_str().unwrap().contains("deleted"), "{deleted}");
    let push = hook(&app, Some("Push Hook"), Some(QA_SECRET), &json!({"object_kind": "push"}).to_string()).await;
    assert_eq!(push.expect(200)["status"], "ignored");
    // A project without rules answers as a wrong token does: nothing to learn from it.
    let unknown = hook(&app, event, Some(QA_SECRET), &tag_push("group/other", "qa-1.0", sha).to_string()).await;
    unknown.expect_error(401, "unauthorized", None);
    // A moved tag (its old commit is not zero) is not a release, as in the server hook.
    let mut moved = tag_push("group/app", "qa-1.2", sha);
    moved["before"] = json!("1234567890123456789012345678901234567890");
    let moved = hook(&app, event, Some(QA_SECRET), &moved.to_string()).await.expect(200);
    assert!(moved["reason"].as_str().unwrap().contains("moved"), "{moved}");

    // Malformed bodies get a clear error naming what is wrong.
    hook(&app, event, Some(QA_SECRET), "{not json").await.expect_error(400, "invalid_body", None);
    let mut no_project = tag_push("group/app", "qa-1.5", sha);
    no_project.as_object_mut().unwrap().remove("project");
    hook(&app, event, Some(QA_SECRET), &no_project.to_string()).await.expect_error(422, "invalid", Some("project"));
    let mut bad_ref = tag_push("group/app", "qa-1.5", sha);
    bad_ref["ref"] = json!(42);
    hook(&app, event, Some(QA_SECRET), &bad_ref.to_string()).await.expect_error(422, "invalid", Some("ref"));

    // A tag the template refuses (its TAG pattern) is refused with the argument named.
    let refused = hook(&app, event, Some(QA_SECRET), &tag_push("group/app", "qa-x", sha).to_string()).await;
    refused.expect_error(422, "invalid", Some("args.TAG"));

    let all = app.get("/api/v1/tasks", &app.admin_token).await.expect(200);
    assert_eq!(all["total"], 2, "only the two matching pushes made tasks");
}

async fn rules_are_checked_and_their_secrets_kept_write_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = rules(&app).await;
    let base = json!({"name": "x", "project": "group/app", "tag_pattern": "^v", "template_id": template,
                      "hosts": {"1": ["a"], "2": ["b"]}, "schedule": "ready", "secret": "long-enough-secret-1"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let app = &app;
    let post = |b: Value| async move { app.post("/api/v1/gitlab/rules", &app.admin_token, &b).await };
    post(with("tag_pattern", json!("(unclosed"))).await.expect_error(422, "invalid", Some("tag_pattern"));
    post(with("secret", json!("short"))).await.expect_error(422, "invalid", Some("secret"));
    post(with("secret", Value::Null)).await.expect_error(422, "invalid", Some("secret"));
    post(with("template_id", json!(999))).await.expect_error(422, "invalid", Some("template_id"));
    post(with("hosts", json!({"1": ["a"]}))).await.expect_error(422, "invalid", Some("hosts.2"));
    post(with("args", json!({"NOPE": "{{ tag }}"}))).await.expect_error(422, "invalid", Some("args.NOPE"));
    post(with("args", json!({"TAG": "{{ tag"}))).await.expect_error(422, "invalid", Some("args.TAG"));
    post(with("name", json!("qa"))).await.expect_error(409, "conflict", None);
    let op = app.user("otto", "operator", &[]).await;
    app.post("/api/v1/gitlab/rules", &op, &base).await.expect_error(403, "forbidden", None);

    // Replacing without a secret keeps the old one; the mapping renders the push.
    let rule = post(with("args", json!({"TAG": "qa-{{ tag[1:] }}"}))).await.expect(201);
    let id = rule["id"].as_i64().unwrap();
    let mut update = with("args", json!({"TAG": "qa-{{ tag[1:] }}"}));
    update.as_object_mut().unwrap().remove("secret");
    update["tag_pattern"] = json!("^v[0-9]");
    app.put(&format!("/api/v1/gitlab/rules/{id}"), &app.admin_token, &update).await.expect(200);
    let sha = "1111111111111111111111111111111111111111";
    let made =
        hook(app, Some("Tag Push Hook"), Some("long-enough-secret-1"), &tag_push("group/app", "v1.0", sha).to_string())
            .await
            .expect(200);
    let task = app.get(&format!("/api/v1/tasks/{}", made["tasks"][0]), &app.admin_token).await.expect(200);
    assert_eq!(task["args"]["TAG"], "qa-1.0");
    let listed = app.get("/api/v1/gitlab/rules", &app.admin_token).await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(!listed.to_string().contains("secret-"), "no secret in the list");
    app.delete(&format!("/api/v1/gitlab/rules/{id}"), &app.admin_token).await.expect(204);
    app.get(&format!("/api/v1/gitlab/rules/{id}"), &app.admin_token).await.expect_error(404, "not_found", None);
}

async fn secret_arguments_of_a_rule_are_encrypted_and_masked(backend: Backend) {
    let app = spawn_app(backend).await;
    rules(&app).await;
    let alias = json!({"key": "DEPLOY_TOKEN", "label": "Deploy token", "secret": true});
    app.post("/api/v1/aliases", &app.admin_token, &alias).await.expect(201);
    let template = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "with token", "steps": [{"name": "s", "group": "local", "script": "echo {{ TAG }} {{ DEPLOY_TOKEN }}"}]}),
        )
        .await
        .expect(201)["id"]
        .clone();
    let mut body = json!({"name": "tokened", "project": "group/app", "tag_pattern": "^qa-", "template_id": template,
                          "schedule": "ready", "secret": "tokened-secret-0123", "args": {"DEPLOY_TOKEN": "deploy-token-value-1"}});
    let rule = app.post("/api/v1/gitlab/rules", &app.admin_token, &body).await.expect(201);
    assert_eq!(rule["args"]["DEPLOY_TOKEN"], "******");
    let id = rule["id"].as_i64().unwrap();
    let listed = app.get("/api/v1/gitlab/rules", &app.admin_token).await.expect(200);
    assert!(!listed.to_string().contains("deploy-token-value-1"));
    const ARGS: &str = "SELECT args FROM gitlab_rules WHERE id = $1";
    assert!(!app.query_text(ARGS, id).await.contains("deploy-token-value-1"), "encrypted at rest");
    assert!(app.query_decrypted(ARGS, id).await.contains("deploy-token-value-1"));
    // Sent back masked, the stored value stays.
    body["args"]["DEPLOY_TOKEN"] = json!("******");
    body.as_object_mut().unwrap().remove("secret");
    app.put(&format!("/api/v1/gitlab/rules/{id}"), &app.admin_token, &body).await.expect(200);
    assert!(app.query_decrypted(ARGS, id).await.contains("deploy-token-value-1"));
}

/// A raw template's TAG lost its pattern after the rule was saved: a push must not put a
/// tag into the shell unchecked.
async fn a_push_is_checked_against_the_template_as_it_is_at_push_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let alias =
        app.post("/api/v1/aliases", t, &json!({"key": "TAG", "label": "Tag", "pattern": "v[0-9.]+"})).await.expect(201);
    let tpl = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "raw deploy", "raw_params": true,
                    "steps": [{"name": "s", "group": "1", "script": "echo deploying {{ TAG }}"}]}),
        )
        .await
        .expect(201);
    let body = json!({"name": "raw", "project": "group/app", "tag_pattern": ".*", "template_id": tpl["id"],
                      "hosts": {"1": ["web-1"]}, "schedule": "new", "secret": QA_SECRET});
    app.post("/api/v1/gitlab/rules", t, &body).await.expect(201);
    let push = |tag: &str| tag_push("group/app", tag, "1111111111111111111111111111111111111111").to_string();
    let hostile = "x;echo${IFS}pwned$(id${IFS}-un)";
    hook(&app, Some("Tag Push Hook"), Some(QA_SECRET), &push(hostile)).await.expect_error(
        422,
        "invalid",
        Some("args.TAG"),
    );
    // The pattern is dropped; the rule was checked when saved, but the push is checked now.
    let alias_path = format!("/api/v1/aliases/{}", alias["id"]);
    app.put(&alias_path, t, &json!({"key": "TAG", "label": "Tag"})).await.expect(200);
    let e = hook(&app, Some("Tag Push Hook"), Some(QA_SECRET), &push(hostile)).await.expect_error(
        422,
        "invalid",
        Some("args.TAG"),
    );
    assert!(e["message"].as_str().unwrap().contains("validation pattern"), "{e}");
    let tasks = app.get("/api/v1/tasks", t).await.expect(200);
    assert_eq!(tasks["total"], 0, "no task was created: {tasks}");
    // With the pattern back, a good tag goes through.
    app.put(&alias_path, t, &json!({"key": "TAG", "label": "Tag", "pattern": "v[0-9.]+"})).await.expect(200);
    let ok = hook(&app, Some("Tag Push Hook"), Some(QA_SECRET), &push("v1.2")).await.expect(200);
    assert_eq!(ok["status"], "created", "{ok}");
}

both_backends!(
    a_push_is_checked_against_the_template_as_it_is_at_push_time,
    secret_arguments_of_a_rule_are_encrypted_and_masked,
    tag_pushes_create_tasks_only_for_matching_rules_and_the_right_token,
    rules_are_checked_and_their_secrets_kept_write_only
);
