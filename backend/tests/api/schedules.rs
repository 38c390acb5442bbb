//! Recurring schedules: validation, live fires, and the missed-run policies.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

async fn local_template(app: &TestApp, name: &str) -> i64 {
    app.template(name, json!({}), json!([{"name": "report", "group": "local", "script": "echo report {{ KIND }}"}]))
        .await
}

async fn schedules_are_validated_and_show_their_next_fires(backend: Backend) {
    let app = spawn_app(backend).await;
    let tpl = local_template(&app, "nightly").await;
    let t = &app.admin_token;
    let good = json!({"name": "nightly report", "cron": "30 2 * * *", "timezone": "Asia/Shanghai", "template_id": tpl,
                      "args": {"KIND": "full"}, "schedule": "ready"});
    let s = app.post("/api/v1/schedules", t, &good).await.expect(201);
    assert_eq!(s["missed_policy"], "run_once");
    assert_eq!(s["enabled"], true);
    assert_eq!(s["owner"], "admin");
    let next: Vec<&str> = s["next_fires"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(next.len(), 5);
    assert!(next.iter().all(|t| t.ends_with("T18:30:00.000Z")), "02:30 in Shanghai is 18:30 UTC: {next:?}");
    assert!(next.windows(2).all(|w| w[0] < w[1]));

    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("cron", json!("every day")), "cron"),
        (with("cron", json!("61 * * * *")), "cron"),
        (with("timezone", json!("Moon/Base")), "timezone"),
        (with("template_id", json!(999)), "template_id"),
        (with("args", json!({})), "args.KIND"),
        (with("name", json!("nightly report")), ""),
    ] {
        let a = app.post("/api/v1/schedules", t, &body).await;
        if field.is_empty() {
            a.expect_error(409, "conflict", None);
        } else {
            a.expect_error(422, "invalid", Some(field));
        }
    }
    let viewer = app.user("vic", "viewer", &[]).await;
    app.post("/api/v1/schedules", &viewer, &with("name", json!("v"))).await.expect_error(403, "forbidden", None);
    let id = s["id"].as_i64().unwrap();
    let off = app.put(&format!("/api/v1/schedules/{id}"), t, &with("enabled", json!(false))).await.expect(200);
    assert_eq!(off["next_fires"], json!([]));
    app.delete(&format!("/api/v1/schedules/{id}"), t).await.expect(204);
    app.get(&format!("/api/v1/schedules/{id}"), t).await.expect_error(404, "not_found", None);
}

async fn a_cron_that_never_fires_is_refused_and_per_second_fires_are_consecutive(backend: Backend) {
    let app = spawn_app(backend).await;
    let tpl = local_template(&app, "often").await;
    let t = &app.admin_token;
    let body = |cron: &str| {
        json!({"name": format!("s {cron}"), "cron": cron, "timezone": "UTC", "template_id": tpl,
               "args": {"KIND": "x"}, "schedule": "new", "enabled": false})
    };
    for never in ["0 0 31 2 *", "0 0 0 30 2 *"] {
        let e = app.post("/api/v1/schedules", t, &body(never)).await.expect_error(422, "invalid", Some("cron"));
        assert!(e["message"].as_str().unwrap().contains("never fires"), "{e}");
    }
    let mut every_second = body("* * * * * *");
    every_second["enabled"] = json!(true);
    let s = app.post("/api/v1/schedules", t, &every_second).await.expect(201);
    let id = s["id"].as_i64().unwrap();
    let fires: Vec<i64> = s["next_fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp())
        .collect();
    assert_eq!(fires.len(), 5);
    assert!(fires.windows(2).all(|w| w[1] - w[0] == 1), "every second, not every other: {fires:?}");
    // Stop it before it submits a task a second.
    app.delete(&format!("/api/v1/schedules/{id}"), t).await.expect(204);
}

async fn a_schedule_creates_a_task_each_time_it_fires(backend: Backend) {
    let app = spawn_app(backend).await;
    let tpl = local_template(&app, "nightly").await;
    let body = json!({"name": "every second", "cron": "* * * * * *", "template_id": tpl, "args": {"KIND": "tick"}, "schedule": "ready"});
    let s = app.post("/api/v1/schedules", &app.admin_token, &body).await.expect(201);
    let mut fires = Value::Null;
    for _ in 0..100 {
        fires = app.get(&format!("/api/v1/schedules/{}/fires", s["id"]), &app.admin_token).await.expect(200);
        if fires.as_array().unwrap().iter().filter(|f| f["outcome"] == "created" && f["task_id"].is_i64()).count() >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made: Vec<i64> = fires.as_array().unwrap().iter().filter_map(|f| f["task_id"].as_i64()).collect();
    assert!(made.len() >= 2, "{fires}");
    let task = app.get(&format!("/api/v1/tasks/{}", made[0]), &app.admin_token).await.expect(200);
    assert_eq!(task["source"], "schedule");
    assert_eq!(task["submitter"], "admin");
    assert_eq!(task["args"]["KIND"], "tick");
    let times: Vec<&str> = fires.as_array().unwrap().iter().map(|f| f["scheduled_for"].as_str().unwrap()).collect();
    let mut unique = times.clone();
    unique.dedup();
    assert_eq!(unique.len(), times.len(), "each second fired once");
    app.put(&format!("/api/v1/schedules/{}", s["id"]), &app.admin_token, &{
        let mut b = body.clone();
        b["enabled"] = json!(false);
        b
    })
    .await
    .expect(200);
}

/// Pretends the server was down for ten and a half minutes, then restarts it.
async fn downtime_then_restart(app: &mut TestApp, policy: &str) -> (i64, Vec<Value>) {
    let tpl = local_template(app, policy).await;
    let body = json!({"name": format!("minutely {policy}"), "cron": "0 * * * * *", "template_id": tpl,
                      "args": {"KIND": "catch-up"}, "schedule": "new", "missed_policy": policy});
    let s = app.post("/api/v1/schedules", &app.admin_token, &body).await.expect(201);
    let id = s["id"].as_i64().unwrap();
    let earlier = chrono::Utc::now().timestamp_millis() - 630_000;
    app.execute("UPDATE schedules SET checked_until = $1, updated_at = $1 WHERE id = $2", earlier, id).await;
    app.restart().await;
    let mut fires = Vec::new();
    for _ in 0..100 {
        fires = app
            .get(&format!("/api/v1/schedules/{id}/fires"), &app.admin_token)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .clone();
        // A fire is recorded first and gets its task a moment later: wait for both.
        let settled = fires.iter().all(|f| f["outcome"] != "created" || f["task_id"].is_i64());
        if fires.len() >= 10 && settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fires less than 30 s old are left to the live job, so 10 (or 9 near a minute edge).
    assert!((9..=11).contains(&fires.len()), "every missed fire is recorded: {fires:?}");
    (id, fires)
}

fn count(fires: &[Value], outcome: &str) -> usize {
    fires.iter().filter(|f| f["outcome"] == outcome).count()
}

async fn missed_fires_are_recorded_and_follow_the_policy(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (_, fires) = downtime_then_restart(&mut app, "skip").await;
    assert_eq!(count(&fires, "missed"), fires.len(), "skip runs nothing");
    let (_, fires) = downtime_then_restart(&mut app, "run_once").await;
    assert_eq!(count(&fires, "created"), 1);
    assert_eq!(fires[0]["outcome"], "created", "the latest missed fire is the one run");
    assert_eq!(count(&fires, "missed"), fires.len() - 1);
    let (_, fires) = downtime_then_restart(&mut app, "run_all").await;
    assert_eq!(count(&fires, "created"), fires.len());
    let tasks = app.get("/api/v1/tasks?status=new&per_page=100", &app.admin_token).await.expect(200);
    assert_eq!(tasks["total"].as_u64().unwrap() as usize, 1 + fires.len(), "run_once made one, run_all one per fire");
}

async fn masked_secrets_sent_back_keep_their_value(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let t = &app.admin_token.clone();
    app.post("/api/v1/aliases", t, &json!({"key": "TOKEN", "label": "Token", "secret": true})).await.expect(201);
    let tpl = app
        .template(
            "uses token",
            json!({}),
            json!([{"name": "s", "group": "local", "script": "echo {{ TOKEN }} | md5sum"}]),
        )
        .await;
    let body = json!({"name": "with secret", "cron": "0 3 * * *", "template_id": tpl, "args": {"TOKEN": "real-token-value"}, "schedule": "ready"});
    let s = app.post("/api/v1/schedules", t, &body).await.expect(201);
    assert_eq!(s["args"]["TOKEN"], "******");
    assert!(s["last_fire_at"].is_null(), "it never fired");
    let mut again = body.clone();
    again["args"]["TOKEN"] = json!("******");
    again["cron"] = json!("0 4 * * *");
    app.put(&format!("/api/v1/schedules/{}", s["id"]), t, &again).await.expect(200);
    let stored = app.query_text("SELECT args_enc FROM schedules WHERE id = $1", s["id"].as_i64().unwrap()).await;
    assert!(!stored.contains("real-token-value"), "encrypted at rest");
    // Run a fire now and check what the step received.
    app.execute(
        "UPDATE schedules SET checked_until = $1, missed_policy = 'run_once' WHERE id = $2",
        chrono::Utc::now().timestamp_millis() - 26 * 3600 * 1000,
        s["id"].as_i64().unwrap(),
    )
    .await;
    app.restart().await;
    let mut fires = Vec::new();
    for _ in 0..100 {
        fires = app
            .get(&format!("/api/v1/schedules/{}/fires", s["id"]), &app.admin_token)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .clone();
        if fires.iter().any(|f| f["task_id"].is_i64()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let task_id = fires.iter().find_map(|f| f["task_id"].as_i64()).expect("a task was made");
    let run = app.wait_status(task_id, &["success", "failed"]).await;
    assert_eq!(run["status"], "success");
    let expected = {
        let out = std::process::Command::new("sh").arg("-c").arg("echo 'real-token-value' | md5sum").output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(crate::sshd::lines_of(&app.all_logs(task_id).await, 0, "local", "stdout"), vec![expected]);
}

both_backends!(
    a_cron_that_never_fires_is_refused_and_per_second_fires_are_consecutive,
    masked_secrets_sent_back_keep_their_value,
    schedules_are_validated_and_show_their_next_fires,
    a_schedule_creates_a_task_each_time_it_fires,
    missed_fires_are_recorded_and_follow_the_policy,
);
