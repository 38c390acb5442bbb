//! Security headers on every answer: no MIME sniffing, no referrer, no framing, and a
//! Content-Security-Policy fitted to what is served (the SPA, Swagger UI, or JSON).

use std::sync::OnceLock;

use base64::Engine;
use poem::http::header::{HeaderName, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use poem::http::HeaderValue;
use poem::Response;

/// The web UI: its own scripts and the wasm module only. Leptos sets a few `style`
/// attributes (progress bars), hence `style-src-attr`; `<style>` and stylesheets stay 'self'.
pub const SPA_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// JSON and other API answers: nothing to load, nothing to run.
pub const API_CSP: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Swagger UI, whose page poem-openapi writes with inline scripts and styles: the scripts
/// are allowed by their hashes (filled in when the page is first served), styles inline.
fn docs_csp(script_hashes: &[String]) -> String {
    let scripts: Vec<String> = script_hashes.iter().map(|h| format!("'sha256-{h}'")).collect();
    format!(
        "default-src 'self'; script-src {}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        scripts.join(" ")
    )
}

/// The SHA-256 (base64) of every inline `<script>` of an HTML page.
fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = vec![];
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some(open_end) = rest[start..].find('>').map(|i| start + i + 1) else { break };
        let Some(close) = rest[open_end..].find("</script>").map(|i| open_end + i) else { break };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &rest.as_bytes()[open_end..close]);
        hashes.push(base64::engine::general_purpose::STANDARD.encode(digest.as_ref()));
        rest = &rest[close..];
    }
    hashes
}

/// Which policy a path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Spa,
    /// The Swagger UI page itself (`/api/docs`), not its other files.
    Docs,
    Api,
}

/// Adds the headers every answer carries, and the CSP of its surface. `docs` caches the
/// Swagger UI policy: the page is the same for the life of the server.
pub async fn secure(surface: Surface, mut resp: Response, docs: &OnceLock<String>) -> Response {
    let csp = match surface {
        Surface::Spa => SPA_CSP.to_string(),
        Surface::Api => API_CSP.to_string(),
        Surface::Docs => {
            let is_html = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"));
            match docs.get() {
                Some(csp) => csp.clone(),
                None if is_html => {
                    let (parts, body) = resp.into_parts();
                    let html = body.into_string().await.unwrap_or_default();
                    let hashes = inline_script_hashes(&html);
                    resp = Response::from_parts(parts, html.into());
                    // A page without scripts (a HEAD request's empty body) is not the one to remember.
                    if hashes.is_empty() {
                        API_CSP.to_string()
                    } else {
                        docs.get_or_init(|| docs_csp(&hashes)).clone()
                    }
                }
                None => API_CSP.to_string(),
            }
        }
    };
    let headers = resp.headers_mut();
    let fixed: [(HeaderName, &'static str); 3] = [
        (HeaderName::from_static("x-content-type-options"), "nosniff"),
        (HeaderName::from_static("referrer-policy"), "no-referrer"),
        (HeaderName::from_static("x-frame-options"), "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(CONTENT_SECURITY_POLICY, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inline_script_is_hashed() {
        let html = "<html><script charset=\"UTF-8\">alert(1)</script><div></div><script>\nlet a;\n</script></html>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 2);
        // echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
        assert_eq!(hashes[0], "bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=");
    }
}
