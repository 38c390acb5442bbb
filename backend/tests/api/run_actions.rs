//! Acting on runs against a real sshd: abort (checked with ps), redo, skip, release,
//! exec_time, strategies, and a restart in the middle of a run.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};
use crate::sshd::{lines_of, pair, processes_matching, TestSshd};

/// A number unlikely to appear in any other process's command line.
fn marker() -> u32 {
    600_000 + (uuid::Uuid::new_v4().as_u128() % 300_000) as u32
}

/// Waits (bounded) until at least `count` processes match `needle`.
async fn wait_for_processes(needle: &str, count: usize) {
    for _ in 0..100 {
        if processes_matching(needle).len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {count} processes with {needle:?}, found {:?}", processes_matching(needle));
}

async fn abort_kills_the_remote_process_group(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let n = marker();
    let tpl = app
        .template(
            "long",
            json!({}),
            json!([
                {"name": "sleep", "group": "1", "script": format!("echo started; sleep {n} & sleep {n}; echo never")},
                {"name": "after", "group": "1", "script": "echo after"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    app.wait_pair(id, "running").await;
    let needle = format!("sleep {n}");
    // On each host its two sleeps (the step's shell is `bash /dev/fd/3`: its command line
    // holds no script text).
    wait_for_processes(&needle, 4).await;

    app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect(200);
    let run = app.wait_status(id, &["aborted"]).await;
    for h in ["h1", "h2"] {
        let p = pair(&run, 0, h);
        assert_eq!(p["status"], "aborted", "{p}");
        assert_eq!(p["kill_confirmed"], true, "{p}");
        assert_eq!(pair(&run, 1, h)["status"], "pending", "nothing ran after the abort");
    }
    assert!(processes_matching(&needle).is_empty(), "remote sleeps survived: {:?}", processes_matching(&needle));
    // A finished task cannot be aborted.
    let e = app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect_error(
        409,
        "invalid_transition",
        None,
    );
    assert_eq!(e["current_status"], "aborted");
}

async fn redo_failed_reruns_only_those_pairs_and_keeps_earlier_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let flag = format!("/tmp/taskgate-redo-{}", marker());
    let tpl = app
        .template("flaky", json!({}), json!([
            {"name": "one", "group": "1", "script": "echo one on $HOST"},
            {"name": "two", "group": "1", "script": format!("echo two on $HOST; test \"$HOST\" = h1 || test -e {flag}")},
            {"name": "three", "group": "1", "script": "echo three on $HOST"}
        ]))
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    let run = app.wait_status(id, &["failed", "success"]).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(pair(&run, 1, "h2")["status"], "failed");
    assert_eq!(pair(&run, 2, "h2")["status"], "pending");

    std::fs::write(&flag, "").unwrap();
    let first_start = run["started_at"].as_str().unwrap().to_string();
    let redo =
        app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "failed"})).await.expect(200);
    assert_eq!(redo["attempt"], 2);
    assert!(redo["started_at"].as_str().unwrap() > first_start.as_str(), "started_at is the new attempt's");
    let run = app.wait_status(id, &["failed", "success"]).await;
    std::fs::remove_file(&flag).ok();
    assert_eq!(run["status"], "success", "{run}");
    for (step, host, attempt) in [(0, "h1", 1), (1, "h1", 1), (2, "h1", 1), (0, "h2", 1), (1, "h2", 2), (2, "h2", 2)] {
        assert_eq!(pair(&run, step, host)["attempt"], attempt, "{step}/{host}");
        assert_eq!(pair(&run, step, host)["status"], "success");
    }
    let logs = app.all_logs(id).await;
    let two_h2: Vec<i64> = logs
        .iter()
        .filter(|l| l["step"] == 1 && l["host"] == "h2" && l["stream"] == "stdout")
        .map(|l| l["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(two_h2, vec![1, 2], "both attempts keep their logs");
    assert_eq!(lines_of(&logs, 0, "h1", "stdout"), vec!["one on h1"], "h1 was not run again");

    app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "failed"}))
        .await
        .expect_error(409, "conflict", None);
    app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "from_step", "step": 7}))
        .await
        .expect_error(422, "invalid", Some("step"));
    let again = app
        .post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "from_step", "step": 2}))
        .await
        .expect(200);
    assert_eq!(again["attempt"], 3);
    let run = app.wait_status(id, &["failed", "success"]).await;
    assert_eq!(pair(&run, 2, "h1")["attempt"], 3);
    assert_eq!(pair(&run, 1, "h1")["attempt"], 1);
}

/// The run read `limit` pairs at a time from `after` on, pages joined.
async fn run_in_pages(app: &crate::helpers::TestApp, id: i64, limit: usize, mut after: Option<String>) -> Vec<Value> {
    let mut pairs = vec![];
    loop {
        let cursor = after.as_deref().map(|a| format!("&after={a}")).unwrap_or_default();
        let page =
            app.get(&format!("/api/v1/tasks/{id}/run?limit={limit}{cursor}"), &app.admin_token).await.expect(200);
        let got = page["pairs"].as_array().unwrap();
        assert!(got.len() <= limit, "{page}");
        pairs.extend(got.iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return pairs,
        }
    }
}

/// (step, host, attempt) of each pair, in the order given.
fn keys(pairs: &[Value]) -> Vec<(i64, String, i64)> {
    pairs
        .iter()
        .map(|p| (p["step"].as_i64().unwrap(), p["host"].as_str().unwrap().to_string(), p["attempt"].as_i64().unwrap()))
        .collect()
}

async fn a_run_read_in_pages_has_every_pair_once_and_a_redo_between_pages_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "paged",
            json!({}),
            json!([
                {"name": "one", "group": "1", "script": "echo one"},
                {"name": "two", "group": "1", "script": "echo two"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    let whole = app.wait_status(id, &["failed", "success"]).await;
    let whole = whole["pairs"].as_array().unwrap().clone();
    assert_eq!(whole.len(), 6);
    for limit in [1, 2, 4, 6, 10_000] {
        assert_eq!(keys(&run_in_pages(&app, id, limit, None).await), keys(&whole), "pages of {limit}");
    }
    // The first page is read, then a redo begins: the next page is refused (the pairs
    // before the cursor are not the run's any more), and a read from the start has them.
    let first = app.get(&format!("/api/v1/tasks/{id}/run?limit=2"), &app.admin_token).await.expect(200);
    assert_eq!(keys(first["pairs"].as_array().unwrap()), keys(&whole[..2]));
    let next = first["next"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "hosts", "hosts": ["h1"]}))
        .await
        .expect(200);
    let redone = app.wait_status(id, &["failed", "success"]).await;
    app.get(&format!("/api/v1/tasks/{id}/run?limit=2&after={next}"), &app.admin_token)
        .await
        .expect_error(409, "conflict", None);
    let again = run_in_pages(&app, id, 2, None).await;
    assert_eq!(keys(&again), keys(redone["pairs"].as_array().unwrap()));
    for step in [0, 1] {
        let p = again.iter().find(|p| p["step"] == step && p["host"] == "h1").unwrap();
        assert_eq!(p["attempt"], 2, "h1's pairs at the redo's attempt: {again:?}");
    }

    // Bad pages are refused, naming the parameter.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=-1", "limit"),
        ("after=1", "after"),
        ("after=1.0", "after"),
        ("after=2.0.", "after"),
        ("after=x.y.h1", "after"),
        ("after=-1.0.h1", "after"),
        ("after=2.-3.h1", "after"),
        ("after=99999999999999999999.0.h1", "after"),
    ] {
        app.get(&format!("/api/v1/tasks/{id}/run?{query}"), &app.admin_token).await.expect_error(
            422,
            "invalid",
            Some(field),
        );
    }
    // A page past the end is empty and has no next; a host name may hold dots.
    for after in ["2.9.zzz", "2.1.h9.example.com"] {
        let past =
            app.get(&format!("/api/v1/tasks/{id}/run?limit=5&after={after}"), &app.admin_token).await.expect(200);
        assert_eq!(past["pairs"].as_array().unwrap().len(), 0, "{past}");
        assert!(past.get("next").is_none(), "{past}");
    }
}

async fn skip_lets_a_failed_task_succeed_and_redo_go_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "skippable",
            json!({}),
            json!([
                {"name": "broken", "group": "1", "script": "exit 1"},
                {"name": "rest", "group": "1", "script": "echo rest"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;
    assert_eq!(app.wait_status(id, &["failed", "success"]).await["status"], "failed");
    app.post(&format!("/api/v1/tasks/{id}/skip"), &app.admin_token, &json!({"step": 0, "host": "h1"}))
        .await
        .expect(200);
    app.post(&format!("/api/v1/tasks/{id}/skip"), &app.admin_token, &json!({"step": 0, "host": "h1"}))
        .await
        .expect_error(409, "conflict", None);
    app.post(&format!("/api/v1/tasks/{id}/skip"), &app.admin_token, &json!({"step": 0, "host": "nope"}))
        .await
        .expect_error(404, "not_found", None);
    app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "failed"})).await.expect(200);
    let run = app.wait_status(id, &["failed", "success"]).await;
    assert_eq!(run["status"], "success");
    assert_eq!(pair(&run, 0, "h1")["status"], "skipped");
    assert_eq!(pair(&run, 1, "h1")["status"], "success");
    assert_eq!(pair(&run, 1, "h1")["attempt"], 2);
}

async fn a_manual_step_waits_for_release(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "gated",
            json!({}),
            json!([
                {"name": "before", "group": "1", "script": "echo before"},
                {"name": "gate", "group": "1", "script": "echo released on $HOST", "trigger": "manual"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    let mut run = app.wait_pair(id, "waiting").await;
    for _ in 0..100 {
        if ["h1", "h2"].iter().all(|h| pair(&run, 1, h)["status"] == "waiting") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        run = app.get(&format!("/api/v1/tasks/{id}/run"), &app.admin_token).await.expect(200);
    }
    assert_eq!(pair(&run, 1, "h1")["message"], "waiting to be released");
    // The task offers what can be done now: a release and a skip (of the waiting pairs),
    // an abort; a viewer is offered nothing.
    let offered = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200)["actions"].clone();
    assert_eq!(offered, json!(["abort", "release", "skip"]));
    let viewer = app.user("vera", "viewer", &[]).await;
    assert_eq!(app.get(&format!("/api/v1/tasks/{id}"), &viewer).await.expect(200)["actions"], json!([]));
    app.post(&format!("/api/v1/tasks/{id}/release"), &app.admin_token, &json!({"step": 0})).await.expect_error(
        422,
        "invalid",
        Some("step"),
    );
    app.post(&format!("/api/v1/tasks/{id}/release"), &app.admin_token, &json!({"step": 1, "host": "h1"}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let run = app.get(&format!("/api/v1/tasks/{id}/run"), &app.admin_token).await.expect(200);
    assert_eq!(pair(&run, 1, "h1")["status"], "success", "{run}");
    assert_eq!(pair(&run, 1, "h2")["status"], "waiting", "only the released host went on");
    app.post(&format!("/api/v1/tasks/{id}/release"), &app.admin_token, &json!({"step": 1})).await.expect(200);
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    // A success leaves only a redo: nothing failed to skip.
    let offered = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200)["actions"].clone();
    assert_eq!(offered, json!(["redo"]));
}

async fn a_future_exec_time_is_honoured(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app.template("later", json!({}), json!([{"name": "when", "group": "1", "script": "date +%s%3N"}])).await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let body =
        json!({"template_id": tpl, "schedule": "ready", "hosts": {"1": [hosts[0]]}, "exec_time": at.to_rfc3339()});
    let id = app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let early = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
    assert_eq!(early["status"], "ready", "not before exec_time");
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "success");
    let ran_at_ms: i64 = lines_of(&app.all_logs(id).await, 0, "h1", "stdout")[0].parse().unwrap();
    assert!(ran_at_ms >= at.timestamp_millis(), "ran at {ran_at_ms}, exec_time {}", at.timestamp_millis());
}

async fn lockstep_finishes_each_step_everywhere_before_the_next(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "lockstep",
            json!({"strategy": "lockstep"}),
            json!([
                {"name": "first", "group": "1", "script": "test \"$HOST\" != h1 || sleep 1; date +%s%3N"},
                {"name": "second", "group": "1", "script": "date +%s%3N"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let logs = app.all_logs(id).await;
    let time = |step: i64, h: &str| lines_of(&logs, step, h, "stdout")[0].parse::<i64>().unwrap();
    let last_first = hosts.iter().map(|h| time(0, h)).max().unwrap();
    let first_second = hosts.iter().map(|h| time(1, h)).min().unwrap();
    assert!(first_second >= last_first, "step 2 began before step 1 ended everywhere");
}

async fn a_failed_canary_holds_back_the_other_hosts(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "canary",
            json!({"strategy": "canary", "canary_size": 1}),
            json!([
                {"name": "deploy", "group": "1", "script": "test \"$HOST\" != h1"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(pair(&run, 0, "h1")["status"], "failed");
    for h in ["h2", "h3"] {
        assert_eq!(pair(&run, 0, h)["status"], "pending");
        assert!(pair(&run, 0, h)["message"].as_str().unwrap().contains("canary"));
    }
}

async fn a_restart_during_a_run_marks_it_interrupted_and_it_can_be_redone(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let n = marker();
    let tpl = app
        .template(
            "interrupted",
            json!({}),
            json!([{"name": "long", "group": "1", "script": format!("echo before; sleep {n}")}]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;
    app.wait_pair(id, "running").await;
    let needle = format!("sleep {n}");
    wait_for_processes(&needle, 1).await;
    for _ in 0..100 {
        if !lines_of(&app.all_logs(id).await, 0, "h1", "stdout").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.restart().await;
    let run = app.wait_status(id, &["interrupted"]).await;
    assert_eq!(pair(&run, 0, "h1")["status"], "aborted");
    assert!(pair(&run, 0, "h1")["message"].as_str().unwrap().contains("interrupted"));
    let logs = app.all_logs(id).await;
    assert_eq!(lines_of(&logs, 0, "h1", "stdout"), vec!["before"], "logs so far are kept");
    // The stopped server could not clean up on the host; do it here.
    let _ = std::process::Command::new("pkill").args(["-f", &needle]).status();

    let tpl_fast = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
    assert_eq!(tpl_fast["status"], "interrupted");
    app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "all"})).await.expect(200);
    app.wait_pair(id, "running").await;
    app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect(200);
    assert_eq!(app.wait_status(id, &["aborted"]).await["attempt"], 2);
}

async fn a_waiting_host_does_not_hold_back_the_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "gate on h1",
            json!({}),
            json!([
                {"name": "gate", "group": "1", "script": "echo passed", "trigger": "manual"}
            ]),
        )
        .await;
    // One host at a time: while h1 waits for its release, h2 must still get its turn.
    let body = json!({"template_id": tpl, "schedule": "ready", "hosts": {"1": hosts}, "concurrency": 1});
    let id = app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
    let mut run = app.wait_pair(id, "waiting").await;
    for _ in 0..100 {
        if ["h1", "h2"].iter().all(|h| pair(&run, 0, h)["status"] == "waiting") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        run = app.get(&format!("/api/v1/tasks/{id}/run"), &app.admin_token).await.expect(200);
    }
    assert!(["h1", "h2"].iter().all(|h| pair(&run, 0, h)["status"] == "waiting"), "{run}");
    app.post(&format!("/api/v1/tasks/{id}/release"), &app.admin_token, &json!({"step": 0})).await.expect(200);
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
}

async fn skipping_the_only_failure_makes_the_task_a_success_on_the_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let tpl =
        app.template("one failure", json!({}), json!([{"name": "broken", "group": "local", "script": "exit 2"}])).await;
    let id = app.run_task(tpl, json!({}), json!({})).await;
    assert_eq!(app.wait_status(id, &["failed", "success"]).await["status"], "failed");
    app.post(&format!("/api/v1/tasks/{id}/skip"), &app.admin_token, &json!({"step": 0})).await.expect(200);
    assert_eq!(app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200)["status"], "success");
    let stream = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}/events")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = stream.lines().rfind(|l| l.starts_with("data:")).unwrap();
    assert!(last.contains("\"kind\":\"task\"") && last.contains("\"status\":\"success\""), "{last}");
}

async fn hosts_queued_for_a_slot_do_not_start_after_an_abort(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let n = marker();
    let tpl = app
        .template("one at a time", json!({}), json!([{"name": "sleep", "group": "1", "script": format!("sleep {n}")}]))
        .await;
    let body = json!({"template_id": tpl, "schedule": "ready", "hosts": {"1": hosts}, "concurrency": 1});
    let id = app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
    let needle = format!("sleep {n}");
    wait_for_processes(&needle, 1).await;
    app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect(200);
    let run = app.wait_status(id, &["aborted"]).await;
    let started: Vec<&serde_json::Value> =
        run["pairs"].as_array().unwrap().iter().filter(|p| p["started_at"].is_string()).collect();
    assert_eq!(started.len(), 1, "only the host that had the slot ran: {run}");
    assert_eq!(started[0]["kill_confirmed"], true, "{}", started[0]);
    let queued =
        run["pairs"].as_array().unwrap().iter().filter(|p| p["message"] == "aborted before it started").count();
    assert_eq!(queued, 2, "{run}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(processes_matching(&needle).is_empty(), "{:?}", processes_matching(&needle));
}

async fn a_task_due_while_the_server_was_down_starts_when_it_is_back(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let tpl = app.template("later", json!({}), json!([{"name": "s", "group": "local", "script": "echo ran"}])).await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body = json!({"template_id": tpl, "schedule": "ready", "exec_time": at.to_rfc3339()});
    let id = app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
    app.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.start_again().await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "success");
    assert_eq!(run["attempt"], 1, "started exactly once");
}

/// Tasks due in the same second are claimed together (one statement, one transaction
/// per batch) and each still runs exactly once, none before its exec_time.
async fn a_burst_of_due_tasks_is_claimed_in_batches_and_each_runs_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let tpl = app.template("burst", json!({}), json!([{"name": "noop", "group": "local", "script": "true"}])).await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let body = json!({"template_id": tpl, "schedule": "ready", "exec_time": at.to_rfc3339()});
    let mut ids = vec![];
    for _ in 0..120 {
        ids.push(app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap());
    }
    assert!(chrono::Utc::now() < at, "the submissions ran into the exec_time");
    for id in &ids {
        assert_eq!(app.wait_status(*id, &["success", "failed"]).await["status"], "success");
    }
    let db = &app.state().db.pool;
    let (tasks, attempts, claims, early): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(attempt) AS BIGINT), COUNT(DISTINCT started_at),
            CAST(SUM(CASE WHEN started_at < exec_time THEN 1 ELSE 0 END) AS BIGINT)
         FROM tasks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!((tasks, attempts, early), (120, 120, 0), "each task once, none early");
    // One claim statement stamps its batch with one start time; one claim per task (the
    // old dispatcher) would have taken a transaction, and a distinct time, each.
    assert!(claims <= 3, "120 tasks due together were claimed at {claims} different times");
    let starts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'task.start'")
        .fetch_one(db)
        .await
        .unwrap();
    let running: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_events WHERE kind = 'status' AND body LIKE '%\"task_status\":\"running\"%'",
    )
    .fetch_one(db)
    .await
    .unwrap();
    let pairs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_pairs").fetch_one(db).await.unwrap();
    assert_eq!((starts, running, pairs), (120, 120, 120), "one start record, status event and pair per task");
}

both_backends!(
    a_burst_of_due_tasks_is_claimed_in_batches_and_each_runs_once,
    a_run_read_in_pages_has_every_pair_once_and_a_redo_between_pages_is_refused,
    a_task_due_while_the_server_was_down_starts_when_it_is_back,
    hosts_queued_for_a_slot_do_not_start_after_an_abort,
    skipping_the_only_failure_makes_the_task_a_success_on_the_stream,
    a_waiting_host_does_not_hold_back_the_others,
    abort_kills_the_remote_process_group,
    redo_failed_reruns_only_those_pairs_and_keeps_earlier_logs,
    skip_lets_a_failed_task_succeed_and_redo_go_on,
    a_manual_step_waits_for_release,
    a_future_exec_time_is_honoured,
    lockstep_finishes_each_step_everywhere_before_the_next,
    a_failed_canary_holds_back_the_other_hosts,
    a_restart_during_a_run_marks_it_interrupted_and_it_can_be_redone,
);
