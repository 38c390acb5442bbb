//! The executor against a real OpenSSH sshd on loopback: success, failure policies,
//! timeouts, unreachable hosts, host keys, secrets in logs.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};
use crate::sshd::{lines_of, pair, processes_matching, TestSshd, PASSWORD_USER, PASSWORD_USER_PASSWORD};

async fn a_two_group_three_step_template_runs_on_every_host_with_ordered_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "three steps",
            json!({}),
            json!([
                {"name": "prepare", "group": "1", "script": "for i in 1 2 3 4 5; do echo prep $i of {{ TAG }} on $HOST; done"},
                {"name": "check", "group": "1", "script": "echo task $TASK_ID; echo warn >&2; test \"$TAG\" = {{ TAG }}"},
                {"name": "finish", "group": "2", "script": "seq 1 200"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({"TAG": "v1.2"}), json!({"1": [hosts[0], hosts[1]], "2": [hosts[2]]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["attempt"], 1);
    let pairs = run["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 5, "2 steps × 2 hosts + 1 step × 1 host");
    for p in pairs {
        assert_eq!(p["status"], "success", "{p}");
        assert_eq!(p["exit_code"], 0);
        assert_eq!(p["tries"], 1);
        assert!(p["started_at"].is_string() && p["finished_at"].is_string());
    }
    let logs = app.all_logs(id).await;
    for h in &hosts[..2] {
        let expected: Vec<String> = (1..=5).map(|i| format!("prep {i} of v1.2 on {h}")).collect();
        assert_eq!(lines_of(&logs, 0, h, "stdout"), expected);
        assert_eq!(lines_of(&logs, 1, h, "stdout"), vec![format!("task {id}")]);
        assert_eq!(lines_of(&logs, 1, h, "stderr"), vec!["warn"], "stderr apart, the wrapper's marker hidden");
    }
    let seq: Vec<String> = (1..=200).map(|i| i.to_string()).collect();
    assert_eq!(lines_of(&logs, 2, &hosts[2], "stdout"), seq, "every line, in order");
    let seqs: Vec<i64> =
        logs.iter().filter(|l| l["step"] == 2 && l["stream"] == "stdout").map(|l| l["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let task = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
    assert_eq!(task["status"], "success");
}

async fn a_failing_step_stops_its_host_or_continues_as_its_policy_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "policies",
            json!({}),
            json!([
                {"name": "fails on h1", "group": "1", "script": "test \"$HOST\" != h1 || exit 3", "on_failure": "continue"},
                {"name": "fails on h2", "group": "1", "script": "test \"$HOST\" != h2 || exit 4"},
                {"name": "after", "group": "1", "script": "echo after on $HOST"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(pair(&run, 0, "h1")["status"], "failed");
    assert_eq!(pair(&run, 0, "h1")["exit_code"], 3);
    assert_eq!(pair(&run, 1, "h1")["status"], "success", "continue: h1 went on");
    assert_eq!(pair(&run, 2, "h1")["status"], "success");
    assert_eq!(pair(&run, 1, "h2")["status"], "failed");
    assert_eq!(pair(&run, 1, "h2")["message"], "exited with status 4");
    assert_eq!(pair(&run, 2, "h2")["status"], "pending", "stop: h2 did not go on");
}

async fn retries_then_timeout_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "slow",
            json!({}),
            json!([{"name": "slow", "group": "1", "script": "echo start; sleep 30", "timeout_secs": 1, "retries": 1}]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    let p = pair(&run, 0, "h1");
    assert_eq!(p["status"], "timeout");
    assert_eq!(p["tries"], 2, "one retry after the first timeout");
    assert_eq!(p["kill_confirmed"], true);
    let logs = app.all_logs(id).await;
    assert_eq!(lines_of(&logs, 0, "h1", "stdout"), vec!["start", "start"]);
    assert!(lines_of(&logs, 0, "h1", "system").iter().any(|l| l.contains("trying again")));
}

async fn an_unreachable_host_fails_alone_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cred = app.get("/api/v1/credentials", &app.admin_token).await.expect(200)[0]["id"].clone();
    app.post(
        "/api/v1/hosts",
        &app.admin_token,
        &json!({"name": "down", "address": "127.0.0.1", "port": closed,
        "credential_id": cred, "host_key_fingerprint": sshd.fingerprint}),
    )
    .await
    .expect(201);
    let tpl = app.template("two", json!({}), json!([{"name": "a", "group": "1", "script": "echo up"}, {"name": "b", "group": "1", "script": "echo still"}])).await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0], "down", "unregistered-host"]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(pair(&run, 0, "h1")["status"], "success");
    assert_eq!(pair(&run, 1, "h1")["status"], "success", "the others go on");
    let down = pair(&run, 0, "down");
    assert_eq!(down["status"], "unreachable");
    assert!(down["message"].as_str().unwrap().contains("cannot reach"), "{down}");
    assert_eq!(pair(&run, 1, "down")["status"], "pending");
    let unknown = pair(&run, 0, "unregistered-host");
    assert_eq!(unknown["status"], "unreachable");
    assert!(unknown["message"].as_str().unwrap().contains("not registered"), "{unknown}");
}

async fn a_host_key_mismatch_is_refused_with_both_keys_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let other = TestSshd::start().await; // a different host key
    let cred = app
        .post(
            "/api/v1/credentials",
            &app.admin_token,
            &json!({"name": "k", "kind": "private_key", "secret": sshd.client_key}),
        )
        .await
        .expect(201);
    app.post(
        "/api/v1/hosts",
        &app.admin_token,
        &json!({"name": "impostor", "address": "127.0.0.1", "port": sshd.port,
        "user": sshd.user, "credential_id": cred["id"], "host_key_fingerprint": other.fingerprint}),
    )
    .await
    .expect(201);
    let tpl =
        app.template("t", json!({}), json!([{"name": "a", "group": "1", "script": "touch /tmp/should-not-run"}])).await;
    let id = app.run_task(tpl, json!({}), json!({"1": ["impostor"]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    let p = pair(&run, 0, "impostor");
    assert_eq!(p["status"], "unreachable");
    let msg = p["message"].as_str().unwrap();
    assert!(
        msg.contains("host key mismatch") && msg.contains(&other.fingerprint) && msg.contains(&sshd.fingerprint),
        "{msg}"
    );
}

async fn first_use_pins_the_key_when_the_host_allows_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let cred = app
        .post(
            "/api/v1/credentials",
            &app.admin_token,
            &json!({"name": "k", "kind": "private_key", "secret": sshd.client_key}),
        )
        .await
        .expect(201);
    let host = app
        .post(
            "/api/v1/hosts",
            &app.admin_token,
            &json!({"name": "new-box", "address": "127.0.0.1", "port": sshd.port,
        "user": sshd.user, "credential_id": cred["id"], "trust_on_first_use": true}),
        )
        .await
        .expect(201);
    let tpl = app.template("t", json!({}), json!([{"name": "a", "group": "1", "script": "true"}])).await;
    let id = app.run_task(tpl, json!({}), json!({"1": ["new-box"]})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let host = app.get(&format!("/api/v1/hosts/{}", host["id"]), &app.admin_token).await.expect(200);
    assert_eq!(host["host_key_fingerprint"], sshd.fingerprint);
}

async fn secret_values_are_masked_in_stored_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    app.post(
        "/api/v1/aliases",
        &app.admin_token,
        &json!({"key": "DB_PASSWORD", "label": "DB password", "secret": true}),
    )
    .await
    .expect(201);
    let tpl = app
        .template(
            "secret",
            json!({}),
            json!([
                {"name": "leak", "group": "1", "script": "echo pw={{ DB_PASSWORD }}; echo env=$DB_PASSWORD >&2"},
                {"name": "leak locally", "group": "local", "script": "echo local $DB_PASSWORD"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({"DB_PASSWORD": "s3cr3t-value"}), json!({"1": [hosts[0]]})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let logs = app.all_logs(id).await;
    assert_eq!(lines_of(&logs, 0, "h1", "stdout"), vec!["pw=******"]);
    assert_eq!(lines_of(&logs, 0, "h1", "stderr"), vec!["env=******"]);
    assert_eq!(lines_of(&logs, 1, "local", "stdout"), vec!["local ******"]);
    // Not only the answers: what is stored holds no secret either.
    assert_eq!(app.count_events_containing(id, "s3cr3t-value").await, 0);
}

async fn password_credentials_log_in_and_a_wrong_one_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_with_passwords().await;
    for (name, password) in [("right", PASSWORD_USER_PASSWORD), ("wrong", "not-the-password")] {
        let cred = app
            .post(
                "/api/v1/credentials",
                &app.admin_token,
                &json!({"name": name, "kind": "password", "secret": password}),
            )
            .await
            .expect(201);
        app.post(
            "/api/v1/hosts",
            &app.admin_token,
            &json!({"name": format!("pw-{name}"), "address": "127.0.0.1", "port": sshd.port,
            "user": PASSWORD_USER, "credential_id": cred["id"], "host_key_fingerprint": sshd.fingerprint}),
        )
        .await
        .expect(201);
    }
    let tpl = app.template("whoami", json!({}), json!([{"name": "who", "group": "1", "script": "id -un"}])).await;
    let id = app.run_task(tpl, json!({}), json!({"1": ["pw-right", "pw-wrong"]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(pair(&run, 0, "pw-right")["status"], "success");
    assert_eq!(lines_of(&app.all_logs(id).await, 0, "pw-right", "stdout"), vec![PASSWORD_USER]);
    let refused = pair(&run, 0, "pw-wrong");
    assert_eq!(refused["status"], "unreachable");
    assert_eq!(refused["message"], format!("login refused for user {PASSWORD_USER}"));
}

async fn a_dropped_connection_fails_the_host_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let n = 700_000 + (uuid::Uuid::new_v4().as_u128() % 200_000) as u32;
    let tpl = app
        .template(
            "dropped",
            json!({}),
            json!([
                {"name": "long", "group": "1", "script": format!("echo up; sleep {n}")},
                {"name": "never", "group": "1", "script": "echo never"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;
    for _ in 0..100 {
        if lines_of(&app.all_logs(id).await, 0, "h1", "stdout") == ["up"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    sshd.drop_connections();
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert!(processes_matching(&format!("sleep {n}")).is_empty(), "the test's kill reached the step too");
    let p = pair(&run, 0, "h1");
    assert_eq!(p["status"], "unreachable", "{p}");
    assert!(p["message"].as_str().unwrap().contains("connection"), "{p}");
    assert_eq!(pair(&run, 1, "h1")["status"], "pending");
}

async fn steps_get_no_stdin_and_local_steps_none_of_the_servers_environment(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    std::env::set_var("TASKGATE_TEST_SERVER_SECRET", "server-only-value");
    let tpl = app
        .template(
            "env",
            json!({}),
            json!([
                {"name": "reads stdin", "group": "1", "script": "cat; echo done", "timeout_secs": 20},
                {"name": "local env", "group": "local", "script": "env | sort"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(pair(&run, 0, "h1")["status"], "success", "cat ended at once: stdin is closed");
    let env = lines_of(&app.all_logs(id).await, 1, "local", "stdout");
    assert!(env.iter().any(|l| l == &format!("TASK_ID={id}")), "{env:?}");
    assert!(
        !env.iter().any(|l| l.starts_with("TASKGATE_") || l.contains("server-only-value")),
        "server environment leaked: {env:?}"
    );
}

both_backends!(
    steps_get_no_stdin_and_local_steps_none_of_the_servers_environment,
    password_credentials_log_in_and_a_wrong_one_is_refused,
    a_dropped_connection_fails_the_host_with_the_reason,
    a_two_group_three_step_template_runs_on_every_host_with_ordered_logs,
    a_failing_step_stops_its_host_or_continues_as_its_policy_says,
    retries_then_timeout_are_recorded,
    an_unreachable_host_fails_alone_with_the_reason,
    a_host_key_mismatch_is_refused_with_both_keys_named,
    first_use_pins_the_key_when_the_host_allows_it,
    secret_values_are_masked_in_stored_logs,
);
