//! The web UI over HTTP: its files, and index.html for the app's own routes (`/tasks/42`).

use std::borrow::Cow;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Body, Request, Response};

use super::bundle;
use super::path::UiPath;
use super::source::{Files, ReadError, UiSource};
use crate::http::error::json_error;

/// The files the UI cannot start without.
const INDEX: &str = "index.html";
const START: &str = "pkg/start.js";

pub struct Spa {
    files: Files,
}

impl Spa {
    /// Serves `source`, saying at start where the UI comes from and whether it is there.
    pub fn new(source: &UiSource) -> Spa {
        let files = Files::new(source);
        let missing: Vec<&str> = [INDEX, START].into_iter().filter(|name| !files.has(name)).collect();
        match source {
            UiSource::Embedded if missing.is_empty() => tracing::info!("serving the web UI built into this binary"),
            UiSource::Embedded => tracing::warn!(
                ?missing,
                "this binary was built without the web UI: / answers 503 (the API works). Run \
                 scripts/build-ui.sh, then build the server again, or serve a directory with --static-dir"
            ),
            UiSource::Dir(dir) if missing.is_empty() => {
                tracing::info!(dir = %dir.display(), "serving the web UI from a directory (--static-dir)")
            }
            UiSource::Dir(dir) => tracing::warn!(
                dir = %dir.display(),
                ?missing,
                "the web UI directory (--static-dir) lacks files the UI needs: run scripts/build-ui.sh"
            ),
        }
        Spa { files }
    }

    /// The answer to any request outside the API. Errors say what went wrong, never where
    /// the files are.
    pub async fn answer(&self, req: &Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp =
                json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed: the web UI answers GET and HEAD");
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let Some(path) = UiPath::from_url(req.uri().path()) else {
            return not_found();
        };
        match self.file(req, &path).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!(error = ?anyhow::Error::new(e), "serving a web UI file failed");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    async fn file(&self, req: &Request, path: &UiPath) -> Result<Response, ReadError> {
        if let Some((hash, name)) = bundle::build_file(path) {
            return Ok(bundle::answer(&self.files, req, path, hash, name).await?.unwrap_or_else(not_found));
        }
        if let Some(file) = self.files.read(path).await? {
            // The files keep their names from one release to the next: a browser asks
            // again each time (a 304 while unchanged), so an upgrade is never mixed with
            // a cached older UI.
            return Ok(file_answer(req, file.bytes, &file.etag, content_type(path), "no-cache"));
        }
        // A missing file of the build is a 404, never index.html (which a page would run
        // as code); any other path is one of the app's routes.
        if path.segments().next() == Some("pkg") {
            return Ok(not_found());
        }
        self.index(req).await
    }

    async fn index(&self, req: &Request) -> Result<Response, ReadError> {
        let index = UiPath::from_url(INDEX).expect("a plain name");
        // index.html is in git, so a binary built before scripts/build-ui.sh has it but
        // not the build: say so plainly rather than send a page that cannot start. A
        // directory is a developer's, whose page says the same when it cannot start.
        let built = matches!(self.files, Files::Dir(_)) || self.files.has(START);
        match self.files.read(&index).await? {
            Some(file) if built => Ok(file_answer(req, file.bytes, &file.etag, "text/html; charset=utf-8", "no-cache")),
            _ => Ok(not_built()),
        }
    }
}

/// A file's answer: the file, a 304 when the client's copy has `etag`, or for HEAD only
/// the length.
pub fn file_answer(
    req: &Request,
    bytes: Cow<'static, [u8]>,
    etag: &str,
    content_type: &'static str,
    cache_control: &'static str,
) -> Response {
    let mut resp = if req.header(header::IF_NONE_MATCH.as_str()).is_some_and(|h| etag_matches(h, etag)) {
        Response::builder().status(StatusCode::NOT_MODIFIED).finish()
    } else if req.method() == Method::HEAD {
        Response::builder().header(header::CONTENT_LENGTH, bytes.len()).finish()
    } else {
        let body = match bytes {
            Cow::Borrowed(b) => Body::from(b),
            Cow::Owned(v) => Body::from(v),
        };
        Response::builder().body(body)
    };
    let sent = resp.status() != StatusCode::NOT_MODIFIED;
    let headers = resp.headers_mut();
    if sent {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    resp
}

/// Whether an `If-None-Match` header names `etag` (weakly compared, as RFC 9110 asks).
fn etag_matches(header: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.split(',').any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

pub fn content_type(path: &UiPath) -> &'static str {
    match path.extension() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found")
}

fn not_built() -> Response {
    let body = api_types::ErrorBody::new(
        "ui_not_built",
        "the web UI is not built: run scripts/build-ui.sh, then build the server again \
         (the API is served under /api; its documentation is at /api/docs)",
    );
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .content_type("application/json; charset=utf-8")
        .body(serde_json::to_string(&body).expect("plain data"))
}

#[cfg(test)]
mod tests {
    use super::{content_type, etag_matches};
    use crate::http::ui::path::UiPath;

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        assert!(etag_matches("\"a1\"", "\"a1\""));
        assert!(etag_matches("\"zz\", W/\"a1\"", "\"a1\""));
        assert!(etag_matches("*", "\"a1\""));
        assert!(!etag_matches("\"a2\"", "\"a1\""));
        assert!(!etag_matches("", "\"a1\""));
    }

    #[test]
    fn content_type_follows_the_extension() {
        let of = |raw: &str| content_type(&UiPath::from_url(raw).unwrap());
        assert_eq!(of("/index.html"), "text/html; charset=utf-8");
        assert_eq!(of("/pkg/start.js"), "text/javascript; charset=utf-8");
        assert_eq!(of("/pkg/ab/app_bg.wasm"), "application/wasm");
        assert_eq!(of("/favicon.ico"), "image/x-icon");
        assert_eq!(of("/pkg/ab/app_bg.wasm.br"), "application/octet-stream");
        assert_eq!(of("/README"), "application/octet-stream");
    }
}
