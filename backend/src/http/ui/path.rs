//! Turns a request's URL path into the name of a web UI file, or refuses it.

use percent_encoding::percent_decode_str;

/// A file name inside the web UI's files: relative, `/`-separated, every segment a plain
/// name. Only [`UiPath::from_url`] makes one, so a reader never sees `..` or an absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiPath(String);

impl UiPath {
    /// The file a URL path names; `None` when it could name something outside the files
    /// (`..`, `.`, a hidden name, an empty segment, a backslash, NUL) or is not UTF-8 once
    /// decoded. One trailing `/` is ignored (`/tasks/` is the route `/tasks`); `/` is the
    /// empty path, the app's page.
    pub fn from_url(raw: &str) -> Option<UiPath> {
        let decoded = percent_decode_str(raw).decode_utf8().ok()?;
        let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
        if rest.is_empty() {
            return Some(UiPath(String::new()));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        // Decoded first: `%2f` splits and `%2e%2e` is `..`, as a file system would read them.
        let plain = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains(['\\', '\0']);
        rest.split('/').all(plain).then(|| UiPath(rest.to_string()))
    }

    /// The empty path: `/`.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same name with `suffix` added to its last segment (a precompressed copy's
    /// `.br`); `suffix` is a constant without `/`.
    pub fn with_suffix(&self, suffix: &'static str) -> UiPath {
        debug_assert!(!suffix.contains(['/', '\\', '\0']));
        UiPath(format!("{}{suffix}", self.0))
    }

    /// The segments of the name.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The extension of the last segment, if any.
    pub fn extension(&self) -> Option<&str> {
        let name = self.0.rsplit('/').next()?;
        name.rsplit_once('.').map(|(_, ext)| ext)
    }
}

#[cfg(test)]
mod tests {
    use super::UiPath;

    fn name(raw: &str) -> Option<String> {
        UiPath::from_url(raw).map(|p| p.as_str().to_string())
    }

    #[test]
    fn plain_names_are_kept() {
        assert_eq!(name("/"), Some(String::new()));
        assert_eq!(name(""), Some(String::new()));
        assert_eq!(name("/index.html"), Some("index.html".into()));
        assert_eq!(name("/pkg/0123abcd/taskgate-ui_bg.wasm"), Some("pkg/0123abcd/taskgate-ui_bg.wasm".into()));
        assert_eq!(name("/hosts/web1.example.com"), Some("hosts/web1.example.com".into()));
        assert_eq!(name("/tasks/42/"), Some("tasks/42".into()));
        assert_eq!(name("/caf%C3%A9"), Some("café".into()));
        assert_eq!(name("/a%20b"), Some("a b".into()));
    }

    #[test]
    fn traversal_and_hidden_names_are_refused() {
        for raw in [
            "/..",
            "/../Cargo.toml",
            "/pkg/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/%2E%2E%2fCargo.toml",
            "/..%2f..%2fetc/passwd",
            "/x/..%2f..%2f..%2f",
            "/./index.html",
            "/%2e/index.html",
            "/.env",
            "/pkg/.git/config",
            "//etc/passwd",
            "/pkg//start.js",
            "/a//",
            "//",
            "/..\\Cargo.toml",
            "/%5c..%5cCargo.toml",
            "/index.html%00",
            "/index.html%00.js",
            "/%ff",
        ] {
            assert_eq!(name(raw), None, "{raw}");
        }
    }

    #[test]
    fn a_double_encoded_dot_is_a_name_not_a_step_up() {
        // Decoded once: `%2e%2e` is then a literal (missing) file name, not `..`.
        assert_eq!(name("/%252e%252e/Cargo.toml"), Some("%2e%2e/Cargo.toml".into()));
    }

    #[test]
    fn suffix_and_extension() {
        let p = UiPath::from_url("/pkg/abc/app.wasm").unwrap();
        assert_eq!(p.extension(), Some("wasm"));
        assert_eq!(p.with_suffix(".br").as_str(), "pkg/abc/app.wasm.br");
        assert_eq!(p.segments().collect::<Vec<_>>(), ["pkg", "abc", "app.wasm"]);
        assert_eq!(UiPath::from_url("/tasks/42").unwrap().extension(), None);
        assert!(UiPath::from_url("/").unwrap().is_root());
    }
}
