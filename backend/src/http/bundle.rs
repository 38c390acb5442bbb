//! The web UI's build: scripts/build-ui.sh puts it in `pkg/HASH/` of the static directory,
//! a directory named after its content, so its files never change under one name. They
//! are sent with a year's immutable caching, and brotli- or gzip-compressed (from the
//! copies made at build time) to browsers that accept it. Everything else in the static
//! directory (index.html, boot.js, pkg/start.js naming the current build) is revalidated.

use std::path::{Path, PathBuf};

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Request, Response};

/// Where the builds are.
pub struct Bundle {
    pkg: PathBuf,
}

/// An accepted encoding, best first, with the suffix of its precompressed copy.
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

impl Bundle {
    pub fn new(static_dir: &Path) -> Bundle {
        Bundle { pkg: static_dir.join("pkg") }
    }

    /// The answer when `req` asks for a file of a build (`/pkg/HASH/NAME`); `None` for
    /// any other path.
    pub async fn answer(&self, req: &Request) -> Option<Response> {
        let rest = req.uri().path().strip_prefix("/pkg/")?;
        let (hash, name) = rest.split_once('/')?;
        let hash_ok = (8..=64).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit());
        let name_ok = !name.is_empty()
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !hash_ok {
            return None;
        }
        if !name_ok || !(req.method() == Method::GET || req.method() == Method::HEAD) {
            return Some(super::error::json_error(StatusCode::NOT_FOUND, "not found"));
        }
        let file = self.pkg.join(hash).join(name);
        let accepted = accepted_encodings(req.header(header::ACCEPT_ENCODING.as_str()).unwrap_or(""));
        let mut chosen = None;
        for (encoding, suffix) in ENCODINGS {
            if accepted.contains(&encoding) {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                if let Ok(bytes) = tokio::fs::read(&path).await {
                    chosen = Some((Some(encoding), bytes));
                    break;
                }
            }
        }
        let (encoding, bytes) = match chosen {
            Some(c) => c,
            // A build that is gone (an old page after an upgrade) is a 404, never index.html.
            None => match tokio::fs::read(&file).await {
                Ok(bytes) => (None, bytes),
                Err(_) => return Some(super::error::json_error(StatusCode::NOT_FOUND, "not found")),
            },
        };
        let etag = format!("\"{hash}-{name}-{}\"", encoding.unwrap_or("identity"));
        let mut resp = if req.header(header::IF_NONE_MATCH.as_str()) == Some(etag.as_str()) {
            Response::builder().status(StatusCode::NOT_MODIFIED).finish()
        } else if req.method() == Method::HEAD {
            Response::builder().header(header::CONTENT_LENGTH, bytes.len()).finish()
        } else {
            Response::builder().body(bytes)
        };
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, v);
        }
        if let Some(e) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        Some(resp)
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The codings an `Accept-Encoding` header accepts (those not given `q=0`).
fn accepted_encodings(header: &str) -> Vec<&str> {
    header
        .split(',')
        .filter_map(|part| {
            let mut bits = part.split(';').map(str::trim);
            let coding = bits.next()?;
            let refused = bits.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0)));
            (!coding.is_empty() && !refused).then_some(coding)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::accepted_encodings;

    #[test]
    fn q_zero_refuses_a_coding() {
        assert_eq!(accepted_encodings("gzip, deflate, br;q=0"), vec!["gzip", "deflate"]);
        assert_eq!(accepted_encodings("br;q=0.5, gzip;q=0.0"), vec!["br"]);
        assert!(accepted_encodings("").is_empty());
    }
}
