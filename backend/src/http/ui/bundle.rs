//! The web UI's build: scripts/build-ui.sh puts it in `pkg/HASH/`, a directory named after
//! its content, so its files never change under one name. They are sent with a year's
//! immutable caching, and brotli- or gzip-compressed (from the copies made at build time)
//! to browsers that accept it. Everything else (index.html, boot.js, pkg/start.js naming
//! the current build) is revalidated.

use poem::http::{header, HeaderValue, StatusCode};
use poem::{Request, Response};

use super::path::UiPath;
use super::source::{Files, ReadError};

/// An accepted encoding, best first, with the suffix of its precompressed copy.
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The build's hash and the file's name when `path` is a file of a build
/// (`pkg/HASH/NAME`, HASH of 8 to 64 hexadecimal digits).
pub fn build_file(path: &UiPath) -> Option<(&str, &str)> {
    let mut segments = path.segments();
    let (Some("pkg"), Some(hash), Some(name), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return None;
    };
    let hash_ok = (8..=64).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit());
    hash_ok.then_some((hash, name))
}

/// The answer for a build's file; `None` when there is no such file (a build that is gone,
/// as an old page after an upgrade asks: the caller answers 404, never index.html).
pub async fn answer(
    files: &Files,
    req: &Request,
    path: &UiPath,
    hash: &str,
    name: &str,
) -> Result<Option<Response>, ReadError> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
        return Ok(None);
    }
    let accepted = accepted_encodings(req.header(header::ACCEPT_ENCODING.as_str()).unwrap_or(""));
    let mut chosen = None;
    for (encoding, suffix) in ENCODINGS {
        if accepted.contains(&encoding) {
            if let Some(file) = files.read(&path.with_suffix(suffix)).await? {
                chosen = Some((Some(encoding), file));
                break;
            }
        }
    }
    let (encoding, file) = match chosen {
        Some(c) => c,
        None => match files.read(path).await? {
            Some(file) => (None, file),
            None => return Ok(None),
        },
    };
    // Named by the build's hash, so the same in the binary and in a directory.
    let etag = format!("\"{hash}-{name}-{}\"", encoding.unwrap_or("identity"));
    let content_type = super::spa::content_type(path);
    let mut resp = super::spa::file_answer(req, file.bytes, &etag, content_type, "public, max-age=31536000, immutable");
    let sent = resp.status() != StatusCode::NOT_MODIFIED;
    let headers = resp.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(e) = encoding.filter(|_| sent) {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    Ok(Some(resp))
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
    use super::{accepted_encodings, build_file};
    use crate::http::ui::path::UiPath;

    #[test]
    fn q_zero_refuses_a_coding() {
        assert_eq!(accepted_encodings("gzip, deflate, br;q=0"), vec!["gzip", "deflate"]);
        assert_eq!(accepted_encodings("br;q=0.5, gzip;q=0.0"), vec!["br"]);
        assert!(accepted_encodings("").is_empty());
    }

    #[test]
    fn a_build_file_is_pkg_hash_name() {
        let at = |raw: &str| UiPath::from_url(raw).unwrap();
        assert_eq!(build_file(&at("/pkg/0123abcd/app.js")), Some(("0123abcd", "app.js")));
        assert_eq!(build_file(&at("/pkg/start.js")), None);
        assert_eq!(build_file(&at("/pkg/0123abc/app.js")), None, "too short a hash");
        assert_eq!(build_file(&at("/pkg/0123abcg/app.js")), None, "not hexadecimal");
        assert_eq!(build_file(&at("/pkg/0123abcd/x/app.js")), None);
        assert_eq!(build_file(&at("/static/0123abcd/app.js")), None);
    }
}
