//! Submitting, listing, viewing and editing tasks; durability across a restart.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

async fn ready_and_new_submissions_get_their_status_and_a_snapshot(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let ready = app.submit(&op, template, "ready").await.expect(201);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["submitter"], "otto");
    assert_eq!(ready["name"], "release", "name defaults to the template's");
    assert_eq!(ready["args"], json!({"TAG": "release-1.2"}));
    assert_eq!(ready["hosts"]["1"], json!(["10.0.0.1", "10.0.0.2"]));
    assert_eq!(ready["concurrency"], 50);
    assert!(ready["approval"].is_null());
    let steps = ready["template_snapshot"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1]["body"], "deploy.sh {{ TAG }}", "the command body is copied into the snapshot");

    let new = app.submit(&op, template, "new").await.expect(201);
    assert_eq!(new["status"], "new");
    assert_ne!(new["id"], ready["id"]);

    // Editing the template afterwards does not rewrite the task's snapshot.
    let cmds = app.get("/api/v1/commands", &app.admin_token).await.expect(200);
    let cmd_id = cmds[0]["id"].as_i64().unwrap();
    app.put(
        &format!("/api/v1/commands/{cmd_id}"),
        &app.admin_token,
        &json!({"name": "deploy", "body": "rm -rf {{ TAG }}"}),
    )
    .await
    .expect(200);
    let again = app.get(&format!("/api/v1/tasks/{}", ready["id"]), &op).await.expect(200);
    assert_eq!(again["template_snapshot"]["steps"][1]["body"], "deploy.sh {{ TAG }}");
    assert_eq!(again["digest"], ready["digest"]);
}

async fn submission_is_refused_with_the_field_for_every_invalid_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let t = &app.admin_token;
    let good = json!({
        "template_id": template, "schedule": "ready", "args": {"TAG": "qa-1"},
        "hosts": {"1": ["10.0.0.1"], "2": ["10.0.0.2"]}
    });
    app.post("/api/v1/tasks", t, &good).await.expect(201);
    let with = |patch: serde_json::Value| {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (with(json!({"template_id": 999})), 422, "template_id"),
        (with(json!({"args": {}})), 422, "args.TAG"),
        (with(json!({"args": {"TAG": "latest"}})), 422, "args.TAG"),
        (with(json!({"args": {"TAG": "qa-1", "TGA": "x"}})), 422, "args.TGA"),
        (with(json!({"hosts": {"1": ["10.0.0.1"]}})), 422, "hosts.2"),
        (with(json!({"hosts": {"1": [], "2": ["10.0.0.2"]}})), 422, "hosts.1"),
        (with(json!({"hosts": {"1": ["10.0.0.1"], "2": ["10.0.0.2"], "3": ["10.0.0.3"]}})), 422, "hosts.3"),
        (with(json!({"hosts": {"1": ["$(reboot)"], "2": ["10.0.0.2"]}})), 422, "hosts.1[0]"),
        (with(json!({"hosts": {"1": ["a", "a"], "2": ["b"]}})), 422, "hosts.1[1]"),
        (with(json!({"schedule": "later"})), 400, "schedule"),
        (with(json!({"schedule": null})), 400, "schedule"),
        (with(json!({"exec_time": "next tuesday"})), 422, "exec_time"),
        (with(json!({"exec_time": "2999-01-01 00:00:00"})), 422, "exec_time"),
        (with(json!({"concurrency": 0})), 422, "concurrency"),
        (with(json!({"template_id": "seven"})), 400, "template_id"),
        (with(json!({"args": {"TAG": 5}})), 400, "args.TAG"),
        (with(json!({"priority": 1})), 400, "priority"),
    ];
    for (body, status, field) in cases {
        let code = if status == 400 { "invalid_body" } else { "invalid" };
        let field = (!field.is_empty()).then_some(field);
        app.post("/api/v1/tasks", t, &body).await.expect_error(status, code, field);
    }
    let listed = app.get("/api/v1/tasks", t).await.expect(200);
    assert_eq!(listed["total"], 1, "no refused submission left a task behind");
}

async fn exec_time_accepts_rfc3339_and_the_codo_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let body = |exec_time: &str| {
        json!({"template_id": template, "schedule": "ready", "args": {"TAG": "qa-1"},
               "hosts": {"1": ["a"], "2": ["b"]}, "exec_time": exec_time})
    };
    let a = app.post("/api/v1/tasks", &app.admin_token, &body("2030-5-4 03:02:01")).await.expect(201);
    assert_eq!(a["exec_time"], "2030-05-04T03:02:01.000Z", "server zone is UTC by default");
    let b = app.post("/api/v1/tasks", &app.admin_token, &body("2030-05-04T11:02:01+08:00")).await.expect(201);
    assert_eq!(b["exec_time"], a["exec_time"]);
}

async fn list_is_newest_first_filtered_searched_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let schedule = if i % 2 == 0 { "new" } else { "ready" };
        let body = json!({"template_id": template, "schedule": schedule, "name": format!("release {}", ["alpha", "beta", "gamma", "delta", "epsilon"][i]),
                          "details": if i == 3 { "hotfix: 100% rollback" } else { "" },
                          "args": {"TAG": "qa-1"}, "hosts": {"1": ["a"], "2": ["b"]}, "exec_time": "2035-01-01 00:00:00"});
        let token = if i == 4 { &app.admin_token } else { &op };
        ids.push(app.post("/api/v1/tasks", token, &body).await.expect(201)["id"].as_i64().unwrap());
    }
    let all = app.get("/api/v1/tasks", &op).await.expect(200);
    let got: Vec<i64> = all["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(got, newest_first);
    assert_eq!(all["total"], 5);

    assert_eq!(app.get("/api/v1/tasks?status=new", &op).await.expect(200)["total"], 3);
    assert_eq!(app.get("/api/v1/tasks?status=new,ready", &op).await.expect(200)["total"], 5);
    // The dashboard's counts: every status, zeros included.
    let counts = app.get("/api/v1/tasks/counts", &op).await.expect(200);
    let counts: Vec<(String, i64)> = counts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["status"].as_str().unwrap().to_string(), c["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(counts.len(), 10, "{counts:?}");
    assert!(counts.contains(&("new".into(), 3)) && counts.contains(&("ready".into(), 2)), "{counts:?}");
    assert!(counts.iter().filter(|(s, _)| s != "new" && s != "ready").all(|(_, n)| *n == 0), "{counts:?}");
    assert_eq!(app.get("/api/v1/tasks?submitter=admin", &op).await.expect(200)["total"], 1);
    assert_eq!(app.get(&format!("/api/v1/tasks?template_id={template}"), &op).await.expect(200)["total"], 5);
    assert_eq!(app.get("/api/v1/tasks?template_id=999", &op).await.expect(200)["total"], 0);
    let found = app.get("/api/v1/tasks?q=HOTFIX", &op).await.expect(200);
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], ids[3]);
    assert_eq!(app.get("/api/v1/tasks?q=%25", &op).await.expect(200)["total"], 1, "% is matched literally");
    assert_eq!(app.get("/api/v1/tasks?q=GAMMA", &op).await.expect(200)["items"][0]["id"], ids[2]);
    assert_eq!(app.get(&format!("/api/v1/tasks?q={}", ids[1]), &op).await.expect(200)["total"], 1);

    let page2 = app.get("/api/v1/tasks?page=2&per_page=2", &op).await.expect(200);
    assert_eq!(page2["items"].as_array().unwrap().len(), 2);
    assert_eq!(page2["items"][0]["id"], newest_first[2]);
    assert_eq!(page2["total"], 5);

    app.get("/api/v1/tasks?status=done", &op).await.expect_error(422, "invalid", Some("status"));
    app.get("/api/v1/tasks?per_page=500", &op).await.expect_error(422, "invalid", Some("per_page"));
    app.get("/api/v1/tasks?page=0", &op).await.expect_error(422, "invalid", Some("page"));
    app.get("/api/v1/tasks?page=two", &op).await.expect_error(400, "bad_request", Some("page"));
    app.get("/api/v1/tasks/999", &op).await.expect_error(404, "not_found", None);
}

async fn secret_parameters_are_masked_in_every_answer_and_encrypted_at_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    app.post("/api/v1/aliases", t, &json!({"key": "DB_PASSWORD", "label": "DB password", "secret": true}))
        .await
        .expect(201);
    let tpl = app
        .post("/api/v1/templates", t, &json!({"name": "db", "steps": [{"name": "migrate", "group": "1", "script": "migrate --password {{ DB_PASSWORD }} {{ TAG }}"}]}))
        .await
        .expect(201);
    let body = json!({"template_id": tpl["id"], "schedule": "new", "args": {"DB_PASSWORD": "hunter2-secret", "TAG": "v1"},
                      "hosts": {"1": ["db-1"]}});
    let task = app.post("/api/v1/tasks", t, &body).await.expect(201);
    let id = task["id"].as_i64().unwrap();
    let answers = [
        task.to_string(),
        app.get(&format!("/api/v1/tasks/{id}"), t).await.expect(200).to_string(),
        app.get("/api/v1/tasks", t).await.expect(200).to_string(),
        app.get("/api/v1/audit", t).await.expect(200).to_string(),
        app.patch(&format!("/api/v1/tasks/{id}"), t, &json!({"details": "x"})).await.expect(200).to_string(),
    ];
    for a in &answers {
        assert!(!a.contains("hunter2-secret"), "secret leaked: {a}");
    }
    assert_eq!(task["args"]["DB_PASSWORD"], "******");
    assert_eq!(task["args"]["TAG"], "v1");
    let stored = app.query_text("SELECT args FROM tasks WHERE id = $1", id).await;
    assert!(!stored.contains("hunter2-secret"), "stored in the clear: {stored}");

    // Sending the mask back keeps the stored secret (the digest does not change).
    let before = app.get(&format!("/api/v1/tasks/{id}"), t).await.expect(200)["digest"].clone();
    let after = app
        .patch(&format!("/api/v1/tasks/{id}"), t, &json!({"args": {"DB_PASSWORD": "******", "TAG": "v1"}}))
        .await
        .expect(200);
    assert_eq!(after["digest"], before);
}

async fn editing_an_approved_task_withdraws_its_approval(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let id = app.submit(&op, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{id}");
    let approved = app.post(&format!("{path}/approve"), &approver, &json!({"comment": "ok"})).await.expect(200);
    assert_eq!(approved["status"], "ready");
    assert_eq!(approved["approval"]["digest"], approved["digest"]);

    let edited = app.patch(&path, &op, &json!({"hosts": {"1": ["10.0.0.9"], "2": ["10.0.0.3"]}})).await.expect(200);
    assert_eq!(edited["status"], "new", "a changed task must be approved again");
    assert!(edited["approval"].is_null());
    assert_ne!(edited["digest"], approved["digest"]);
    // Only the submitter (or an admin) may edit, and only before it runs.
    app.patch(&path, &approver, &json!({"details": "mine now"})).await.expect_error(403, "forbidden", None);
    app.post(&format!("{path}/cancel"), &op, &json!({})).await.expect(200);
    let refused = app.patch(&path, &op, &json!({"details": "x"})).await.expect_error(409, "invalid_transition", None);
    assert_eq!(refused["current_status"], "cancelled");
    app.patch(&path, &op, &json!({"args": {"TAG": "bad tag"}})).await.expect(409);
}

async fn unanswered_approval_requests_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    app.put("/api/v1/policy", &app.admin_token, &json!({"allow_self_approval": false, "approval_timeout_secs": 1}))
        .await
        .expect(200);
    let task = app.submit(&app.admin_token, template, "new").await.expect(201);
    assert!(task["approval_deadline"].is_string());
    let path = format!("/api/v1/tasks/{}", task["id"]);
    let mut status = String::new();
    for _ in 0..100 {
        status = app.get(&path, &app.admin_token).await.expect(200)["status"].as_str().unwrap().to_string();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "expired");
    let approver = app.user("april", "approver", &[]).await;
    app.post(&format!("{path}/approve"), &approver, &json!({})).await.expect_error(409, "invalid_transition", None);
    let audit = app.get("/api/v1/audit?action=task.expire", &app.admin_token).await.expect(200);
    assert_eq!(audit["items"][0]["actor"], "system");
}

async fn a_restart_keeps_every_accepted_task(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let mut ids = Vec::new();
    for schedule in ["ready", "new", "new", "ready"] {
        ids.push(app.submit(&app.admin_token, template, schedule).await.expect(201)["id"].as_i64().unwrap());
    }
    let before = app.get("/api/v1/tasks", &app.admin_token).await.expect(200);
    app.restart().await;
    // The session token survives too: it is signed with the same secret key.
    let after = app.get("/api/v1/tasks", &app.admin_token).await.expect(200);
    assert_eq!(after, before);
    for id in ids {
        app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
    }
}

both_backends!(
    ready_and_new_submissions_get_their_status_and_a_snapshot,
    submission_is_refused_with_the_field_for_every_invalid_input,
    exec_time_accepts_rfc3339_and_the_codo_form,
    list_is_newest_first_filtered_searched_and_paged,
    secret_parameters_are_masked_in_every_answer_and_encrypted_at_rest,
    editing_an_approved_task_withdraws_its_approval,
    unanswered_approval_requests_expire,
    a_restart_keeps_every_accepted_task,
);
