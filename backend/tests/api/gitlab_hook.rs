//! The GitLab `update` server hook (`contrib/gitlab/update`), run by real git on a push
//! to a bare repository, against the real server.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};

fn hook_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/gitlab/update")
}

/// What one git command did.
struct GitRun {
    success: bool,
    stderr: String,
}

impl GitRun {
    /// Asserts that git succeeded; returns its standard error (where `remote:` lines go).
    #[track_caller]
    fn ok(self) -> String {
        assert!(self.success, "git failed:\n{}", self.stderr);
        self.stderr
    }
}

/// A bare repository with the hook installed as `hooks/update`, its configuration
/// beside it, and a clone holding one commit and the tags `qa-1.0`, `release-2.0`
/// (annotated) and `feature-x`, not yet pushed.
struct Repo {
    root: tempfile::TempDir,
}

impl Repo {
    async fn with_hook(config: &str) -> Repo {
        let script = hook_script();
        let text = std::fs::read_to_string(&script).expect("hook script");
        assert!(text.starts_with("#!/usr/bin/env python3\n"), "the hook is a python3 script");
        assert!(script.metadata().unwrap().permissions().mode() & 0o111 != 0, "the hook is executable");

        let repo = Repo { root: tempfile::tempdir().expect("temp dir") };
        repo.git(&["init", "--bare", "--initial-branch=main", "repo.git"]).await.ok();
        let hooks = repo.bare().join("hooks");
        std::fs::copy(&script, hooks.join("update")).expect("install hook");
        std::fs::set_permissions(hooks.join("update"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(hooks.join("taskgate-hook.conf"), config).expect("hook config");

        repo.git(&["clone", "repo.git", "work"]).await.ok();
        std::fs::write(repo.root.path().join("work/README"), "hello\n").unwrap();
        repo.git(&["-C", "work", "add", "README"]).await.ok();
        repo.git(&["-C", "work", "commit", "-m", "first"]).await.ok();
        repo.git(&["-C", "work", "tag", "qa-1.0"]).await.ok();
        repo.git(&["-C", "work", "tag", "-a", "release-2.0", "-m", "Release 2.0"]).await.ok();
        repo.git(&["-C", "work", "tag", "feature-x"]).await.ok();
        repo
    }

    fn bare(&self) -> PathBuf {
        self.root.path().join("repo.git")
    }

    /// Pushes from the clone, as the GitLab user `deployer` would.
    async fn push(&self, args: &[&str]) -> GitRun {
        let mut all = vec!["-C", "work", "push"];
        all.extend_from_slice(args);
        self.git(&all).await
    }

    /// Runs git in the temporary directory, isolated from the machine's git configuration.
    async fn git(&self, args: &[&str]) -> GitRun {
        let out = tokio::process::Command::new("git")
            .args(args)
            .current_dir(self.root.path())
            .env("HOME", self.root.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Dee Ployer")
            .env("GIT_AUTHOR_EMAIL", "deployer@example.com")
            .env("GIT_COMMITTER_NAME", "Dee Ployer")
            .env("GIT_COMMITTER_EMAIL", "deployer@example.com")
            .env("GL_USERNAME", "deployer")
            .env_remove("GL_PROJECT_PATH")
            .env_remove("TASKGATE_HOOK_CONFIG")
            .env_remove("TASKGATE_URL")
            .env_remove("TASKGATE_TOKEN")
            .output()
            .await
            .expect("git runs");
        GitRun { success: out.status.success(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
    }
}

/// An API token with only `task:submit`, as the hook's configuration would hold.
async fn hook_token(app: &TestApp) -> String {
    let t = app
        .post("/api/v1/tokens", &app.admin_token, &json!({"name": "gitlab", "scopes": ["task:submit"]}))
        .await
        .expect(201);
    t["token"].as_str().expect("token").to_string()
}

/// Every task, in full, by its `TAG` argument.
async fn tasks_by_tag(app: &TestApp) -> BTreeMap<String, Value> {
    let page = app.get("/api/v1/tasks?per_page=100", &app.admin_token).await.expect(200);
    let mut tasks = BTreeMap::new();
    for item in page["items"].as_array().expect("items") {
        let task = app.get(&format!("/api/v1/tasks/{}", item["id"]), &app.admin_token).await.expect(200);
        let tag = task["args"]["TAG"].as_str().expect("TAG argument").to_string();
        assert!(tasks.insert(tag, task).is_none(), "one task per tag: {page}");
    }
    tasks
}

fn rule(name: &str, tag: &str, template: i64, schedule: &str, extra: &str) -> String {
    format!(
        "[rule {name}]\ntag = {tag}\ntemplate = {template}\nschedule = {schedule}\nhosts.1 = a\nhosts.2 = b\n{extra}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_tags_create_one_task_per_matching_rule() {
    let app = spawn_app(Backend::Sqlite).await;
    let template = app.deploy_template().await;
    let token = hook_token(&app).await;
    let config = format!(
        "[taskgate]\nurl = {}\ntoken = {token}\ntimeout = 10\n\n{}\n{}",
        app.base,
        rule("qa", "^qa-", template, "ready", ""),
        rule("release", "^release-", template, "new", ""),
    );
    let repo = Repo::with_hook(&config).await;

    let branch = repo.push(&["origin", "HEAD:refs/heads/main"]).await.ok();
    let tags = repo.push(&["--tags", "origin"]).await.ok();

    assert!(!branch.contains("taskgate:"), "a branch push is ignored:\n{branch}");
    assert!(tags.contains("for tag qa-1.0 (rule qa)"), "push output:\n{tags}");
    assert!(tags.contains(" new for tag release-2.0 (rule release)"), "push output:\n{tags}");
    assert!(!tags.contains("tag feature-x") && !tags.contains("warning"), "push output:\n{tags}");
    let tasks = tasks_by_tag(&app).await;
    assert_eq!(tasks.keys().collect::<Vec<_>>(), ["qa-1.0", "release-2.0"]);
    let qa = &tasks["qa-1.0"];
    assert_ne!(qa["status"], "new", "a ready task does not wait for approval: {qa}");
    assert_eq!(qa["schedule"], "ready");
    assert_eq!(qa["name"], "repo qa-1.0");
    assert_eq!(qa["template_id"], template);
    assert_eq!(qa["hosts"], json!({"1": ["a"], "2": ["b"]}));
    assert!(qa["details"].as_str().unwrap().starts_with("pushed by deployer ("), "details: {qa}");
    let release = &tasks["release-2.0"];
    assert_eq!((&release["status"], &release["schedule"]), (&json!("new"), &json!("new")));
    assert_eq!(release["name"], "repo release-2.0");

    let deleted = repo.push(&["origin", ":refs/tags/qa-1.0"]).await.ok();

    assert!(!deleted.contains("taskgate:"), "deleting a tag is ignored:\n{deleted}");
    assert_eq!(tasks_by_tag(&app).await.len(), 2, "no task for a deleted tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_goes_through_when_taskgate_is_down() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = format!("[taskgate]\nurl = http://{unused}\ntoken = t\n\n{}", rule("qa", "^qa-", 1, "ready", ""));
    let repo = Repo::with_hook(&config).await;

    let run = repo.push(&["--tags", "origin"]).await;

    let stderr = run.ok();
    assert!(stderr.contains("taskgate: warning: rule qa, tag qa-1.0: cannot reach"), "push output:\n{stderr}");
    let tag = repo.git(&["--git-dir", "repo.git", "rev-parse", "--verify", "refs/tags/qa-1.0"]).await;
    assert!(tag.success, "the tag arrived: {}", tag.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_task_is_a_warning_and_other_rules_still_run() {
    let app = spawn_app(Backend::Sqlite).await;
    let template = app.deploy_template().await;
    let token = hook_token(&app).await;
    let config = format!(
        "[taskgate]\nurl = {}\ntoken = {token}\n\n{}\n{}",
        app.base,
        rule("qa", "^qa-", template, "ready", "args.ENV = qa"),
        rule("release", "^release-", template, "new", ""),
    );
    let repo = Repo::with_hook(&config).await;

    let stderr = repo.push(&["--tags", "origin"]).await.ok();

    assert!(
        stderr.contains("taskgate: warning: rule qa, tag qa-1.0: server refused the task: 422")
            && stderr.contains("(field args.ENV)"),
        "push output:\n{stderr}"
    );
    assert!(stderr.contains("for tag release-2.0 (rule release)"), "push output:\n{stderr}");
    assert_eq!(tasks_by_tag(&app).await.keys().collect::<Vec<_>>(), ["release-2.0"]);
}
