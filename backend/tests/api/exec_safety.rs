//! The executor against hostile input, through the real server and a real sshd: values
//! and task names that try to break out of their quotes, secrets that span lines, what
//! `ps` shows on the host, and task host entries that try to send a host's credential
//! to another user or port.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::sshd::{lines_of, pair, processes_matching, TestSshd, Trap, PASSWORD_USER, PASSWORD_USER_PASSWORD};

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

async fn secret_alias(app: &TestApp, key: &str) {
    app.post("/api/v1/aliases", &app.admin_token, &json!({"key": key, "label": key, "secret": true})).await.expect(201);
}

async fn a_multi_line_secret_never_reaches_the_stored_log_or_the_live_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    secret_alias(&app, "KEY").await;
    let secret = format!("first-{0}\nsecond-{0}\nthird-{0}", unique());
    let tpl = app
        .template(
            "multi-line secret",
            json!({"extra_params": ["KEY"]}),
            json!([{"name": "print it", "group": "local", "script": concat!(
                "printf 'a:%s:b\\n' \"$KEY\"\n",
                "printf '%s\\n' \"$KEY\" | while IFS= read -r l; do printf '%s\\n' \"$l\"; sleep 0.05; done\n",
                "printf '%s' \"$KEY\" | dd bs=1 2>/dev/null; echo\n",
                "printf '%s' \"$KEY\" >&2\n",
                "echo done")}]),
        )
        .await;
    let id = app.run_task(tpl, json!({"KEY": secret}), json!({})).await;
    // Follow the live stream from the start of the run to its end.
    let request = app.client.get(app.url(&format!("/api/v1/tasks/{id}/events"))).bearer_auth(&app.admin_token);
    let stream = tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap() });
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let stream = stream.await.unwrap();
    let logs = app.all_logs(id).await;
    let stdout = lines_of(&logs, 0, "local", "stdout");
    assert_eq!(stdout.first().map(String::as_str), Some("a:******:b"), "{stdout:?}");
    assert_eq!(stdout.last().map(String::as_str), Some("done"));
    assert!(stream.contains("a:******:b"), "the stream carried the log: {stream}");
    for line in secret.lines() {
        assert!(!logs.iter().any(|l| l["text"].as_str().unwrap().contains(line)), "{line:?} in {logs:?}");
        assert!(!stream.contains(line), "{line:?} on the live stream");
        assert_eq!(app.count_events_containing(id, line).await, 0, "{line:?} stored");
    }
}

async fn quotes_in_a_value_or_a_task_name_never_run_as_commands(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let flag = format!("/tmp/tg-injected-{}", unique());
    let value = format!("\"; touch {flag}; echo \"$(touch {flag})`touch {flag}`'; touch {flag}; '\\");
    let quoted = app
        .template(
            "quoted",
            json!({}),
            json!([{"name": "print", "group": "1", "script": "printf '[%s]\\n' \"{{ NAME }}\" '{{ NAME }}' {{ NAME }}"}]),
        )
        .await;
    let id = app.run_task(quoted, json!({"NAME": value}), json!({"1": [hosts[0]]})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    assert_eq!(lines_of(&app.all_logs(id).await, 0, "h1", "stdout"), vec![format!("[{value}]"); 3]);

    // raw_params: arguments as given, but the task's name and executor always quoted.
    let raw = app
        .template(
            "raw",
            json!({"raw_params": true}),
            json!([{"name": "print", "group": "1",
                    "script": "printf '[%s]\\n' {{ TASK_NAME }} \"{{ EXECUTOR }}\" {{ WORDS }}"}]),
        )
        .await;
    let name = format!("x\"; touch {flag}; \"$(touch {flag})");
    let executor = format!("`touch {flag}`\"");
    let body = json!({"template_id": raw, "schedule": "ready", "name": name, "executor": executor,
                      "args": {"WORDS": "two words"}, "hosts": {"1": [hosts[0]]}});
    let id = app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let printed = lines_of(&app.all_logs(id).await, 0, "h1", "stdout");
    assert_eq!(printed, vec![format!("[{name}]"), format!("[{executor}]"), "[two]".into(), "[words]".into()]);
    assert!(!std::path::Path::new(&flag).exists(), "a value ran as a command");
}

async fn host_group_and_step_name_are_placeholders_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "where",
            json!({}),
            json!([
                {"name": "say where", "group": "1", "script": "echo {{ HOST }} {{ HOST_GROUP }} {{ STEP_NAME }}"},
                {"name": "and here", "group": "local", "script": "echo {{ HOST }} {{ HOST_GROUP }} {{ STEP_NAME }}"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let logs = app.all_logs(id).await;
    assert_eq!(lines_of(&logs, 0, "h1", "stdout"), vec!["h1 1 say where"]);
    assert_eq!(lines_of(&logs, 1, "local", "stdout"), vec!["local local and here"]);
}

async fn bodies_with_unsafe_placeholders_or_reserved_names_are_refused_when_saved(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_token;
    let template = |steps: Value, extra: Value| {
        let mut body = json!({"name": format!("t-{}", unique()), "steps": steps});
        if let Value::Object(map) = extra {
            for (k, v) in map {
                body[k] = v;
            }
        }
        body
    };
    for (script, says) in [
        ("echo ok # {{ NOTE }}", "comment"),
        ("cat <<EOF\n{{ NOTE }}\nEOF", "here-document"),
        ("echo `echo {{ NOTE }}`", "backquote"),
        ("echo {{ PATH }}", "reserved"),
    ] {
        let e = app
            .post(
                "/api/v1/templates",
                admin,
                &template(json!([{"name": "s", "group": "1", "script": script}]), json!({})),
            )
            .await
            .expect_error(422, "invalid", Some("steps[0].script"));
        assert!(e["message"].as_str().unwrap().contains(says), "{script:?}: {e}");
    }
    app.post("/api/v1/aliases", admin, &json!({"key": "LD_PRELOAD", "label": "x"})).await.expect_error(
        422,
        "invalid",
        Some("key"),
    );
    app.post(
        "/api/v1/templates",
        admin,
        &template(json!([{"name": "s", "group": "1", "script": "true"}]), json!({"extra_params": ["BASH_ENV"]})),
    )
    .await
    .expect_error(422, "invalid", Some("extra_params[0]"));
    // A python command may read raw arguments, but not a quoted template's values.
    let py = app
        .post(
            "/api/v1/commands",
            admin,
            &json!({"name": "py", "interpreter": "python3", "body": "print('{{ NOTE }}')"}),
        )
        .await
        .expect(201);
    let e = app
        .post(
            "/api/v1/templates",
            admin,
            &template(json!([{"name": "s", "group": "1", "command_id": py["id"]}]), json!({})),
        )
        .await
        .expect_error(422, "invalid", Some("steps[0].command_id"));
    assert!(e["message"].as_str().unwrap().contains("environment"), "{e}");
    // A command in use is checked as its templates use it.
    let cmd = app.post("/api/v1/commands", admin, &json!({"name": "ok", "body": "echo {{ NOTE }}"})).await.expect(201);
    app.post(
        "/api/v1/templates",
        admin,
        &template(json!([{"name": "s", "group": "1", "command_id": cmd["id"]}]), json!({})),
    )
    .await
    .expect(201);
    let e = app
        .put(&format!("/api/v1/commands/{}", cmd["id"]), admin, &json!({"name": "ok", "body": "# {{ NOTE }}"}))
        .await
        .expect_error(422, "invalid", Some("body"));
    assert!(e["message"].as_str().unwrap().contains("as template"), "{e}");
}

async fn no_argument_value_or_script_text_shows_in_the_process_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    secret_alias(&app, "DB_PASSWORD").await;
    let u = unique();
    let n = 700_000 + (uuid::Uuid::new_v4().as_u128() % 200_000) as u32;
    let script = format!(": {{{{ TAG }}}} script-text-{u} \"$DB_PASSWORD\"; sleep {n}");
    let args = json!({"TAG": format!("tag-value-{u}"), "DB_PASSWORD": format!("secret-value-{u}")});
    let extra = json!({"extra_params": ["DB_PASSWORD"]});
    let remote = app.template("remote", extra.clone(), json!([{"name": "s", "group": "1", "script": script}])).await;
    let local = app.template("local", extra, json!([{"name": "s", "group": "local", "script": script}])).await;
    let ids = [
        app.run_task(remote, args.clone(), json!({"1": [hosts[0]]})).await,
        app.run_task(local, args, json!({})).await,
    ];
    let needle = format!("sleep {n}");
    for _ in 0..100 {
        if processes_matching(&needle).len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let listing = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert_eq!(listing.matches(&needle).count(), 2, "both steps are running: {listing}");
    assert!(listing.lines().any(|l| l.ends_with("bash /dev/fd/3")), "{listing}");
    for hidden in [format!("tag-value-{u}"), format!("secret-value-{u}"), format!("script-text-{u}")] {
        assert!(!listing.contains(&hidden), "{hidden} is on a command line: {listing}");
    }
    for id in ids {
        app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect(200);
        app.wait_status(id, &["aborted"]).await;
    }
    // What an abort left behind (ending a process group portably is issue 10's work).
    for line in processes_matching(&needle) {
        let pid = line.split_whitespace().next().unwrap().to_string();
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
    }
}

/// A password credential on a trust-on-first-use host: the combination that sent the
/// password to whatever listened on a port the submitter chose.
async fn password_host(app: &TestApp, name: &str, port: u16) -> Value {
    let cred = app
        .post(
            "/api/v1/credentials",
            &app.admin_token,
            &json!({"name": format!("pw-{name}"), "kind": "password", "secret": PASSWORD_USER_PASSWORD}),
        )
        .await
        .expect(201);
    app.post(
        "/api/v1/hosts",
        &app.admin_token,
        &json!({"name": name, "address": "127.0.0.1", "port": port, "user": PASSWORD_USER,
                "credential_id": cred["id"], "trust_on_first_use": true}),
    )
    .await
    .expect(201)
}

async fn recorded_keys(app: &TestApp, port: u16) -> Vec<String> {
    sqlx::query_scalar("SELECT fingerprint FROM host_keys WHERE port = $1")
        .bind(i64::from(port))
        .fetch_all(&app.state().db.pool)
        .await
        .unwrap()
}

async fn a_task_cannot_send_a_hosts_credential_to_another_port_or_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_with_passwords().await;
    let trap = Trap::start().await;
    password_host(&app, "pw-box", sshd.port).await;
    let tpl = app.template("who", json!({}), json!([{"name": "who", "group": "1", "script": "id -un"}])).await;
    let submit = |entry: String| json!({"template_id": tpl, "schedule": "ready", "hosts": {"1": [entry]}});
    for entry in [
        format!("{PASSWORD_USER}@pw-box:{}", trap.port),
        format!("pw-box:{}", trap.port),
        format!("127.0.0.1:{}", trap.port),
        "root@pw-box".to_string(),
    ] {
        let e = app.post("/api/v1/tasks", &app.admin_token, &submit(entry.clone())).await.expect_error(
            422,
            "invalid",
            Some("hosts.1[0]"),
        );
        assert!(e["message"].as_str().unwrap().contains("cannot choose another"), "{entry}: {e}");
    }
    // The host's own user and port, spelled out, are fine; so is a later edit that keeps them.
    let entry = format!("{PASSWORD_USER}@pw-box:{}", sshd.port);
    let id = app.post("/api/v1/tasks", &app.admin_token, &submit(entry)).await.expect(201)["id"].as_i64().unwrap();
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    assert_eq!(
        lines_of(&app.all_logs(id).await, 0, &format!("{PASSWORD_USER}@pw-box:{}", sshd.port), "stdout"),
        vec![PASSWORD_USER]
    );
    let later = json!({"template_id": tpl, "schedule": "new", "hosts": {"1": ["pw-box"]}});
    let later = app.post("/api/v1/tasks", &app.admin_token, &later).await.expect(201)["id"].as_i64().unwrap();
    app.patch(
        &format!("/api/v1/tasks/{later}"),
        &app.admin_token,
        &json!({"hosts": {"1": [format!("pw-box:{}", trap.port)]}}),
    )
    .await
    .expect_error(422, "invalid", Some("hosts.1[0]"));
    assert_eq!(trap.connections(), 0, "something connected to the submitter's port");
    assert_eq!(recorded_keys(&app, sshd.port).await, vec![sshd.fingerprint.clone()]);
    assert!(recorded_keys(&app, trap.port).await.is_empty());
}

async fn a_host_moved_after_submission_is_not_reached_on_the_port_the_task_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start_with_passwords().await;
    let trap = Trap::start().await;
    // Registered on the trap's port when the task is submitted, moved before it runs.
    let host = password_host(&app, "mover", trap.port).await;
    let tpl = app.template("who", json!({}), json!([{"name": "who", "group": "1", "script": "id -un"}])).await;
    let operator = app.user("olga", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;
    let entry = format!("mover:{}", trap.port);
    let body = json!({"template_id": tpl, "schedule": "new", "hosts": {"1": [entry]}});
    let id = app.post("/api/v1/tasks", &operator, &body).await.expect(201)["id"].as_i64().unwrap();
    app.put(
        &format!("/api/v1/hosts/{}", host["id"]),
        &app.admin_token,
        &json!({"name": "mover", "address": "127.0.0.1", "port": sshd.port, "user": PASSWORD_USER,
                "credential_id": host["credential_id"], "trust_on_first_use": true}),
    )
    .await
    .expect(200);
    app.send(reqwest::Method::POST, &format!("/api/v1/tasks/{id}/approve"), Some(&approver), None).await.expect(200);
    let run = app.wait_status(id, &["success", "failed"]).await;
    let p = pair(&run, 0, &entry);
    assert_eq!(p["status"], "unreachable", "{p}");
    assert!(
        p["message"].as_str().unwrap().starts_with("refused: ") && p["message"].as_str().unwrap().contains("port"),
        "{p}"
    );
    assert_eq!(trap.connections(), 0, "something connected to the port the task named");
}

async fn first_use_keys_are_recorded_per_address_and_port(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = TestSshd::start().await;
    let (port, first_key) = (first.port, first.fingerprint.clone());
    let cred = app
        .post(
            "/api/v1/credentials",
            &app.admin_token,
            &json!({"name": "k", "kind": "private_key", "secret": first.client_key}),
        )
        .await
        .expect(201);
    for name in ["early", "late"] {
        app.post(
            "/api/v1/hosts",
            &app.admin_token,
            &json!({"name": name, "address": "127.0.0.1", "port": port, "user": first.user,
                    "credential_id": cred["id"], "trust_on_first_use": true}),
        )
        .await
        .expect(201);
    }
    let tpl = app.template("t", json!({}), json!([{"name": "a", "group": "1", "script": "true"}])).await;
    let id = app.run_task(tpl, json!({}), json!({"1": ["early"]})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    // Another daemon, another key, on the same address and port.
    drop(first);
    let impostor = TestSshd::start_on_port(port).await;
    let id = app.run_task(tpl, json!({}), json!({"1": ["late"]})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    let p = pair(&run, 0, "late");
    assert_eq!(p["status"], "unreachable");
    let msg = p["message"].as_str().unwrap();
    assert!(
        msg.contains("host key mismatch") && msg.contains(&first_key) && msg.contains(&impostor.fingerprint),
        "{msg}"
    );
    assert_eq!(recorded_keys(&app, port).await, vec![first_key]);
}

async fn runs_racing_to_record_a_first_use_key_record_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..16 {
        let db = app.state().db.clone();
        racing.spawn(async move {
            let offered = format!("SHA256:key-{i}");
            let recorded =
                taskgate::store::catalogue::record_first_use_key(&db, "10.9.9.9", 22, &offered).await.unwrap();
            (offered, recorded)
        });
    }
    let results = racing.join_all().await;
    let winners: std::collections::BTreeSet<&String> = results.iter().map(|(_, r)| r).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|(o, r)| o == r).count(), 1, "exactly one run had its key accepted");
    assert_eq!(recorded_keys(&app, 22).await.len(), 1);
}

both_backends!(
    a_multi_line_secret_never_reaches_the_stored_log_or_the_live_stream,
    quotes_in_a_value_or_a_task_name_never_run_as_commands,
    host_group_and_step_name_are_placeholders_too,
    bodies_with_unsafe_placeholders_or_reserved_names_are_refused_when_saved,
    no_argument_value_or_script_text_shows_in_the_process_list,
    a_task_cannot_send_a_hosts_credential_to_another_port_or_user,
    a_host_moved_after_submission_is_not_reached_on_the_port_the_task_names,
    first_use_keys_are_recorded_per_address_and_port,
    runs_racing_to_record_a_first_use_key_record_one,
);
