//! The web UI built into the binary: served at `/` and the app's routes, revalidated, its
//! build sent compressed, and nothing outside its files ever answered.

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_embedded, Backend, TestApp};

fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("static")
}

/// Checks that an answer names no place on disk and carries no file from outside the UI.
fn assert_reveals_nothing(what: &str, body: &str) {
    let repo = static_dir().parent().unwrap().display().to_string();
    for leak in [repo.as_str(), "/etc", "root:", "[workspace]", "[package]", "static/"] {
        assert!(!body.contains(leak), "{what}: {leak:?} in {body}");
    }
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_ui_is_served_at_the_root_and_at_client_routes() {
    let app = spawn_app_embedded(Backend::Sqlite).await;
    let index = std::fs::read_to_string(static_dir().join("index.html")).unwrap();
    for path in ["/", "/tasks/42", "/hosts/web1.example.com", "/templates/new/"] {
        let page = get(&app, path).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(page.headers()["cache-control"], "no-cache", "{path}");
        let etag = page.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(page.text().await.unwrap(), index, "{path}");

        let again = app.client.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}: an unchanged page is not sent again");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.text().await.unwrap().is_empty());
        let changed = app.client.get(app.url(path)).header("if-none-match", "\"older\"").send().await.unwrap();
        assert_eq!(changed.status(), 200, "{path}");
    }
    let head = app.client.head(app.url("/style.css")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "text/css; charset=utf-8");
    let length = std::fs::metadata(static_dir().join("style.css")).unwrap().len();
    assert_eq!(head.headers()["content-length"], length.to_string().as_str());
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_build_is_sent_compressed_and_cached_for_good() {
    let app = spawn_app_embedded(Backend::Sqlite).await;
    let start = get(&app, "/pkg/start.js").await;
    assert_eq!(start.status(), 200);
    assert_eq!(start.headers()["cache-control"], "no-cache");
    assert_eq!(start.headers()["content-type"], "text/javascript; charset=utf-8");
    let start = start.text().await.unwrap();
    let wasm = start.split('"').find(|s| s.ends_with("_bg.wasm")).expect("start.js names the wasm").to_string();
    let r = app.client.get(app.url(&wasm)).header("accept-encoding", "br").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    let on_disk = static_dir().join(format!("{}.br", wasm.trim_start_matches('/')));
    assert_eq!(r.bytes().await.unwrap(), std::fs::read(on_disk).unwrap());

    // The parts loaded on first use (and the script that loads them) live beside it and
    // are sent the same way.
    let dir = static_dir().join(wasm.trim_start_matches('/')).parent().unwrap().to_path_buf();
    let url_dir = wasm.rsplit_once('/').unwrap().0.to_string();
    let mut parts: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| (n.starts_with("split_") || n.starts_with("chunk_")) && n.ends_with(".wasm"))
        .collect();
    assert!(parts.iter().any(|n| n.starts_with("split_")), "no split parts in {}", dir.display());
    parts.push("__wasm_split.js".into());
    for name in parts {
        let r = app
            .client
            .get(app.url(&format!("{url_dir}/{name}")))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.headers()["content-encoding"], "gzip", "{name}");
        let kind = if name.ends_with(".js") { "text/javascript; charset=utf-8" } else { "application/wasm" };
        assert_eq!(r.headers()["content-type"], kind, "{name}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{name}");
        assert_eq!(r.bytes().await.unwrap(), std::fs::read(dir.join(format!("{name}.gz"))).unwrap(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_attempts_never_answer_a_file_outside_the_ui() {
    let app = spawn_app_embedded(Backend::Sqlite).await;
    // Sent as written: a client such as reqwest would resolve `..` and `%2e%2e` itself.
    for (path, status) in [
        ("/..%2f..%2fetc/passwd", 404),
        ("/..%2f..%2f..%2fetc%2fpasswd", 404),
        ("/%2e%2e/Cargo.toml", 404),
        ("/%2e%2e/%2e%2e/Cargo.toml", 404),
        ("/pkg/../Cargo.toml", 404),
        ("/../Cargo.toml", 404),
        ("/pkg/..%5c..%5cCargo.toml", 404),
        ("/.%2e/Cargo.toml", 404),
        ("//etc/passwd", 404),
        ("/index.html%00", 422),
        ("/index.html%00.js", 422),
    ] {
        let (got, body) = app.raw_get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_reveals_nothing(path, &body);
    }
    // What a normalising client sends instead (`/Cargo.toml`) is an app route: the page.
    let page = get(&app, "/pkg/../Cargo.toml").await;
    assert_eq!(page.status(), 200);
    assert_reveals_nothing("normalised", &page.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_of_the_build_is_a_json_404_never_the_page() {
    let app = spawn_app_embedded(Backend::Sqlite).await;
    for path in ["/pkg/nope.js", "/pkg/0123456789abcdef/taskgate-ui.js", "/pkg/", "/pkg/.hidden", "/pkg%2fnope.js"] {
        let r = get(&app, path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "not_found", "{path}");
        assert_reveals_nothing(path, &body.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_answers_only_get_and_head() {
    let app = spawn_app_embedded(Backend::Sqlite).await;
    for (method, path) in [
        (reqwest::Method::POST, "/"),
        (reqwest::Method::PUT, "/index.html"),
        (reqwest::Method::DELETE, "/tasks/42"),
        (reqwest::Method::POST, "/pkg/start.js"),
    ] {
        let r = app.client.request(method.clone(), app.url(path)).body("x").send().await.unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], "GET, HEAD", "{method} {path}");
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "method_not_allowed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_in_a_ui_directory_to_files_outside_is_not_followed() {
    let app = spawn_app(Backend::Sqlite).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside-secret").unwrap();
    let dir = app.static_dir();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Taskgate SPA</title>").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.join("secret.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.join("pkg")).unwrap();

    let page = get(&app, "/secret.txt").await;
    assert_eq!(page.status(), 200, "an app route, then");
    assert!(page.text().await.unwrap().contains("Taskgate SPA"));
    let build = get(&app, "/pkg/secret.txt").await;
    assert_eq!(build.status(), 404);
    assert_reveals_nothing("/pkg/secret.txt", &build.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_too_long_for_the_file_system_is_not_found_in_a_ui_directory() {
    let app = spawn_app(Backend::Sqlite).await;
    let dir = app.static_dir();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Taskgate SPA</title>").unwrap();
    std::fs::create_dir_all(dir.join("pkg/0123456789abcdef")).unwrap();
    let long = "a".repeat(300);
    let build = get(&app, &format!("/pkg/0123456789abcdef/{long}.wasm")).await;
    assert_eq!(build.status(), 404, "a build file that cannot exist");
    assert_eq!(build.json::<Value>().await.unwrap()["code"], "not_found");
    let page = get(&app, &format!("/{long}")).await;
    assert_eq!(page.status(), 200, "an app route, then");
    assert!(page.text().await.unwrap().contains("Taskgate SPA"));
}

/// index.html's own sign-in form (shown while the bundle loads) says what the UI's says,
/// in each language the UI has.
#[test]
fn the_early_sign_in_form_speaks_like_the_ui() {
    let boot = std::fs::read_to_string(static_dir().join("boot.js")).unwrap();
    let texts = boot.split("// texts:start").nth(1).and_then(|s| s.split("// texts:end").next()).unwrap();
    let texts = texts.trim().trim_start_matches("const TEXTS =").trim().trim_end_matches(';');
    let texts: Value = serde_json::from_str(texts).expect("boot.js's TEXTS is JSON");
    let locales = static_dir().parent().unwrap().join("frontend/locales");
    let mut languages = 0;
    for entry in std::fs::read_dir(&locales).unwrap() {
        let dir = entry.unwrap().path();
        let lang = dir.file_name().unwrap().to_str().unwrap().to_string();
        let common: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("common.json")).unwrap()).unwrap();
        let mine = &texts[&lang];
        assert!(mine.is_object(), "boot.js has no texts for {lang}");
        for key in ["intro", "username", "password", "signing_in", "sign_in"] {
            assert_eq!(mine[key], common["login"][key], "{lang}: login.{key}");
        }
        assert_eq!(mine["loading"], common["loading"], "{lang}: loading");
        languages += 1;
    }
    assert_eq!(texts.as_object().unwrap().len(), languages, "boot.js has texts for a language the UI lacks");
}
