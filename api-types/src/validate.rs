//! Validation written once, used by the server and by the web UI's forms.
//!
//! The fixed rules are character checks (`shapes`), so the web UI carries no regex
//! engine; only an alias's own `pattern` needs one, behind the `regex` feature.

mod shapes;

use crate::{Alias, FieldError, Message, ParamType};

/// The rules below as the `pattern`s the OpenAPI document states for the fields they
/// check. Each is read alike by ECMA-262 (the document's dialect) and by Rust's `regex`,
/// which poem-openapi compiles each `validator(pattern = …)` with; the field attributes
/// repeat them literally (an attribute takes no constant), and the server's tests hold
/// every pattern in the document to one of these and each of these to its rule (the
/// character checks that apply them are held to them in `shapes/tests.rs`).
/// Whitespace is Unicode `White_Space`, what `str::trim` removes; a control character is
/// `char::is_control`: U+0000–U+001F and U+007F–U+009F.
pub mod patterns {
    /// [`name`](super::name): no control character, not blank (with at most 100 characters).
    pub const NAME: &str = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$";
    /// A name that may also be left blank (then a default takes its place).
    pub const NAME_OR_BLANK: &str = r"^(?:[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*|[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*)$";
    /// Text that is not blank and holds no NUL.
    pub const NOT_BLANK: &str = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$";
    /// [`username`](super::username).
    pub const USERNAME: &str = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$";
    /// [`param_key`](super::param_key), before the reserved names are refused.
    pub const PARAM_KEY: &str = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$";
    /// [`group`](super::group).
    pub const GROUP: &str = r"^(?:local|[1-9][0-9]{0,2})$";
    /// [`host_entry`](super::host_entry).
    pub const HOST_ENTRY: &str = r"^(?:[A-Za-z0-9_.-]{1,64}@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})$";
    /// A host entry as a task's host list takes it: surrounding whitespace is trimmed.
    pub const HOST_ENTRY_TRIMMED: &str = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[A-Za-z0-9_.-]{1,64}@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";
    /// A host entry without a login user: a host's `address`.
    pub const HOST_ADDRESS: &str = r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})$";
    /// Empty, or an address with an `@`, no whitespace and no NUL (with at most 254 bytes).
    pub const EMAIL: &str = r"^(?:[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*@[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$";
    /// A program name or path such as `bash` or `/usr/bin/python3`.
    pub const INTERPRETER: &str = r"^[A-Za-z0-9_./-]{1,64}$";
    /// [`ticket_path`](super::ticket_path): a path a browser opens by URL.
    pub const TICKET_PATH: &str = r"^/api/v1/tasks/(?:changes|[0-9]{1,18}/(?:events|logs/text))$";
    /// A host key fingerprint as `ssh-keygen -lf` prints it.
    pub const FINGERPRINT: &str = r"^SHA256:[A-Za-z0-9+/]{43}$";
    /// A cron expression's shape: 5 or 6 fields separated by whitespace, of the characters
    /// cron syntax uses (digits, `*/,-#?+`, letters for names and `L`/`W`, and the few
    /// letters whose upper case is a Latin letter: the parser upper-cases first).
    pub const CRON_FIELDS: &str = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[*0-9A-Za-z/,#?+\u00df\u0131\u017f\ufb00-\ufb06-]+[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+){4,5}[*0-9A-Za-z/,#?+\u00df\u0131\u017f\ufb00-\ufb06-]+[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";
    /// A private key's text: `-----BEGIN ` after any whitespace, and no NUL.
    pub const PRIVATE_KEY: &str =
        r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*-----BEGIN [^\u0000]*$";
    /// One whitespace character, as `str::trim` sees it (for building patterns).
    pub const WHITESPACE: &str = r"[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
    /// Any text without NUL, which every string of a request refuses.
    pub const NO_NUL: &str = r"^[^\u0000]*$";
}

/// A display name: 1–100 characters, not blank, no control characters.
pub fn name(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > 100 {
        return Err(FieldError::new(field, "must be at most 100 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    no_bidi_override(field, value)
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) make
/// text display in another order than it reads ("Trojan Source"): an approver could be
/// shown a value that is not what runs. Refused in names, texts and argument values.
pub fn no_bidi_override(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')) {
        return Err(FieldError::new(
            field,
            "must not contain bidirectional override or isolate characters (U+202A to U+202E, U+2066 to U+2069)",
        ));
    }
    Ok(())
}

/// Refuses NUL, which PostgreSQL text cannot hold (and which SQLite would store and
/// match). Every text input is checked with this, directly or through [`text`] or [`name`].
pub fn no_nul(field: &str, value: &str) -> Result<(), FieldError> {
    if value.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Free text with an upper bound on its size; no NUL.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<(), FieldError> {
    no_nul(field, value)?;
    no_bidi_override(field, value)?;
    if value.chars().count() > max_chars {
        return Err(FieldError::new(field, Message::new("must be at most {max} characters").arg("max", max_chars)));
    }
    Ok(())
}

pub fn username(field: &str, value: &str) -> Result<(), FieldError> {
    if shapes::username(value) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be 1-64 characters of letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        ))
    }
}

/// An email address, loosely: empty, or with an `@`, no whitespace and at most 254 bytes.
pub fn email(field: &str, value: &str) -> Result<(), FieldError> {
    no_nul(field, value)?;
    if !value.is_empty() && (!value.contains('@') || value.len() > 254 || value.contains(char::is_whitespace)) {
        return Err(FieldError::new(field, "is not an email address"));
    }
    Ok(())
}

pub fn password(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().count() < 8 {
        return Err(FieldError::new(field, "must be at least 8 characters"));
    }
    if value.len() > 1024 {
        return Err(FieldError::new(field, "must be at most 1024 bytes"));
    }
    Ok(())
}

/// Environment names that change how the shell, the dynamic loader or a common
/// interpreter starts, or how text is decoded: a step's variables must not set them.
/// Compared without regard to case (zsh ties `path` to `PATH`).
const RESERVED_NAMES: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "PATH",
    "IFS",
    "CDPATH",
    "FPATH",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "GLOBIGNORE",
    "HOME",
    "SHELL",
    "ZDOTDIR",
    "LANG",
    "LANGUAGE",
    "NLSPATH",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "LOCPATH",
    "NODE_OPTIONS",
    "NODE_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "RUBYOPT",
    "RUBYLIB",
    "PERLLIB",
    "PERL5LIB",
    "PERL5OPT",
];
/// Prefixes of reserved names: the loader (`LD_`, `DYLD_`), exported bash functions,
/// the locale, Python and Perl start-up, malloc tuning.
const RESERVED_PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_", "LC_", "PYTHON", "PERL5", "MALLOC_"];

/// A parameter key doubles as an environment variable name, so it must be one, and not
/// one of the names that change how the step's shell or interpreter starts.
pub fn param_key(field: &str, value: &str) -> Result<(), FieldError> {
    if !shapes::param_key(value) {
        return Err(FieldError::new(
            field,
            "must be a valid environment variable name: letters, digits and '_', not starting with a digit, at most 64 characters",
        ));
    }
    let upper = value.to_ascii_uppercase();
    if RESERVED_NAMES.contains(&upper.as_str()) || RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p)) {
        return Err(FieldError::new(
            field,
            Message::new(
                "{value} is reserved: as an environment variable it would change how the step's shell, \
                 loader or interpreter starts; choose another name",
            )
            .arg("value", value),
        ));
    }
    Ok(())
}

/// A path a ticket may open: the streams and log downloads a browser reaches by URL alone
/// (`/api/v1/tasks/changes`, `/api/v1/tasks/ID/events`, `/api/v1/tasks/ID/logs/text`).
pub fn ticket_path(field: &str, value: &str) -> Result<(), FieldError> {
    if shapes::ticket_path(value) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be /api/v1/tasks/changes, /api/v1/tasks/ID/events or /api/v1/tasks/ID/logs/text",
        ))
    }
}

/// A host group: `local` or a number 1–999 written without leading zeros.
pub fn group(field: &str, value: &str) -> Result<(), FieldError> {
    if shapes::group(value) {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be a group number from 1 to 999, or \"local\""))
    }
}

/// A host as a task names it: a registered host's name, a DNS name or an IP address,
/// optionally as `user@host` or with `:port`.
pub fn host_entry(field: &str, value: &str) -> Result<(), FieldError> {
    if shapes::host_entry(value) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            Message::new("{value} is not a host name or address").arg("value", format!("{value:?}")),
        ))
    }
}

/// Checks a regular expression as a parameter pattern (whole-value match).
///
/// Without the `regex` feature (the web UI, whose wasm it would grow by some 375 KB)
/// only the length is checked: the server compiles the pattern and answers 422 naming
/// the field, which the form shows like its own errors.
pub fn pattern(field: &str, value: &str) -> Result<(), FieldError> {
    if value.len() > 1000 {
        return Err(FieldError::new(field, "must be at most 1000 characters"));
    }
    // On its own first: `[0-9]+)|(.*` is not a pattern, though wrapped in `^(?:…)$` it
    // would read as one that matches anything.
    #[cfg(feature = "regex")]
    regex::Regex::new(value).and_then(|_| anchored(value)).map_err(|e| {
        FieldError::new(field, Message::new("is not a valid regular expression: {error}").arg("error", e))
    })?;
    Ok(())
}

#[cfg(feature = "regex")]
fn anchored(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// True for the spellings of a boolean that tasks accept.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Checks one argument value against its alias: type, bounds, choices, pattern.
/// `field` names the argument in errors, e.g. `args.VERSION`.
///
/// Without the `regex` feature (the web UI) the alias's pattern is not checked: the
/// server checks it on submit and answers 422 naming the field, which the form shows.
pub fn param_value(field: &str, alias: &Alias, value: &str) -> Result<(), FieldError> {
    let err = |msg: Message| Err(FieldError::new(field, msg));
    if value.len() > 64 * 1024 {
        return err(Message::new("must be at most 64 KiB"));
    }
    no_bidi_override(field, value)?;
    match alias.param_type {
        ParamType::Int => {
            let Ok(n) = value.trim().parse::<i64>() else {
                return err(Message::new("must be an integer, got {value}").arg("value", format!("{value:?}")));
            };
            if let Some(min) = alias.min.filter(|m| n < *m) {
                return err(Message::new("must be at least {min}").arg("min", min));
            }
            if let Some(max) = alias.max.filter(|m| n > *m) {
                return err(Message::new("must be at most {max}").arg("max", max));
            }
        }
        ParamType::Bool => {
            if parse_bool(value).is_none() {
                return err(Message::new("must be true or false, got {value}").arg("value", format!("{value:?}")));
            }
        }
        ParamType::Enum => {
            if !alias.choices.iter().any(|c| c == value) {
                return err(Message::new("must be one of {choices}").arg("choices", alias.choices.join(", ")));
            }
        }
        ParamType::Datetime => {
            if !shapes::datetime(value) {
                return err(Message::new("must be a date and time such as 2026-01-31 18:00:00"));
            }
        }
        ParamType::String => {
            let len = value.chars().count() as i64;
            if let Some(min) = alias.min.filter(|m| len < *m) {
                return err(Message::new("must be at least {min} characters").arg("min", min));
            }
            if let Some(max) = alias.max.filter(|m| len > *m) {
                return err(Message::new("must be at most {max} characters").arg("max", max));
            }
        }
    }
    #[cfg(feature = "regex")]
    if let Some(p) = alias.pattern.as_deref().filter(|p| !p.is_empty()) {
        match anchored(p) {
            Ok(re) if re.is_match(value) => {}
            Ok(_) => return err(Message::new("does not match the pattern {pattern}").arg("pattern", p)),
            Err(_) => {
                return err(Message::new("cannot be checked: the alias pattern {pattern} is invalid").arg("pattern", p))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(param_type: ParamType) -> Alias {
        Alias {
            id: 1,
            key: "K".into(),
            label: "K".into(),
            description: String::new(),
            param_type,
            default: None,
            required: true,
            pattern: None,
            min: None,
            max: None,
            choices: vec![],
            secret: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn bidi_overrides_are_refused_in_names_texts_and_values() {
        for evil in ["deploy\u{202e}gnp.exe", "a\u{2066}b\u{2069}"] {
            assert!(name("n", evil).is_err(), "{evil:?}");
            assert!(text("t", evil, 100).is_err(), "{evil:?}");
            assert!(param_value("args.K", &alias(ParamType::String), evil).is_err(), "{evil:?}");
        }
        // Right-to-left text itself is fine.
        assert!(name("n", "\u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{200f}v1").is_ok());
    }

    #[cfg(feature = "regex")]
    #[test]
    fn pattern_must_match_the_whole_value() {
        let a = Alias { pattern: Some("v[0-9]+".into()), ..alias(ParamType::String) };
        assert!(param_value("args.K", &a, "v12").is_ok());
        let e = param_value("args.K", &a, "v12; rm -rf /").unwrap_err();
        assert_eq!(e.field, "args.K");
    }

    #[cfg(feature = "regex")]
    #[test]
    fn a_pattern_must_be_one_on_its_own_not_only_once_wrapped() {
        // Wrapped as ^(?:…)$ this compiles, and matches anything after its first branch.
        let e = pattern("pattern", "[0-9.]+)|(.*").unwrap_err();
        assert_eq!(e.field, "pattern");
        assert!(pattern("pattern", "(qa|release)-[0-9.]+").is_ok());
    }

    #[cfg(not(feature = "regex"))]
    #[test]
    fn without_regex_an_alias_pattern_is_left_to_the_server() {
        assert!(pattern("pattern", "v[0-9").is_ok());
        assert!(pattern("pattern", &"a".repeat(1001)).is_err());
        let a = Alias { pattern: Some("v[0-9]+".into()), max: Some(3), ..alias(ParamType::String) };
        assert!(param_value("args.K", &a, "anything").is_err(), "the other checks still apply");
        assert!(param_value("args.K", &a, "abc").is_ok());
    }

    #[test]
    fn int_bounds_are_inclusive() {
        let a = Alias { min: Some(1), max: Some(3), ..alias(ParamType::Int) };
        assert!(param_value("f", &a, "1").is_ok());
        assert!(param_value("f", &a, "3").is_ok());
        assert!(param_value("f", &a, "4").is_err());
        assert!(param_value("f", &a, "x").is_err());
    }

    #[test]
    fn enum_accepts_only_its_choices() {
        let a = Alias { choices: vec!["a".into(), "b".into()], ..alias(ParamType::Enum) };
        assert!(param_value("f", &a, "b").is_ok());
        assert!(param_value("f", &a, "c").is_err());
    }

    #[test]
    fn keys_that_steer_the_shell_or_loader_are_refused() {
        for ok in ["VERSION", "_x", "DB_PASSWORD", "PATHS", "LDAP_URL", "home_dir"] {
            assert!(param_key("k", ok).is_ok(), "{ok}");
        }
        for bad in [
            "BASH_ENV",
            "ENV",
            "PATH",
            "path",
            "IFS",
            "PS4",
            "SHELLOPTS",
            "HOME",
            "LD_PRELOAD",
            "ld_library_path",
            "BASH_FUNC_x",
            "LC_ALL",
            "LANG",
            "PYTHONPATH",
            "PERL5OPT",
            "GLIBC_TUNABLES",
            "1X",
            "A-B",
            "",
        ] {
            assert!(param_key("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_are_numbers_or_local() {
        for ok in ["1", "12", "999", "local"] {
            assert!(group("g", ok).is_ok(), "{ok}");
        }
        for bad in ["0", "01", "1000", "x", ""] {
            assert!(group("g", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_entries_refuse_shell_text() {
        for ok in ["10.0.0.1", "web-1.example.com", "root@10.0.0.1", "127.0.0.2:2222", "[::1]"] {
            assert!(host_entry("h", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "x;rm", "$(id)"] {
            assert!(host_entry("h", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_refuses_nul_and_names_refuse_every_control_character() {
        assert_eq!(text("q", "a\0b", 10).unwrap_err().field, "q");
        assert!(text("q", "tab\tand\nnewline", 100).is_ok());
        for bad in ["a\0b", "a\nb", "a\u{1b}[31m", "a\u{7f}"] {
            assert!(name("name", bad).is_err(), "{bad:?}");
        }
        assert!(no_nul("x", "版本").is_ok());
    }

    /// Every string of up to three characters from an alphabet of the characters the
    /// rules turn on: letters, digits, the punctuation they allow, whitespace inside and
    /// outside `White_Space` and the control range, NUL, CJK and astral characters.
    fn short_strings() -> Vec<String> {
        let alphabet = [
            'a', 'Z', '0', '9', '_', '-', '.', '@', ':', '[', ']', '/', '+', ' ', '\t', '\n', '\r', '\0', '\u{1b}',
            '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}', '\u{200b}', '\u{feff}', '版', '😀',
        ];
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..3 {
            last = last.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    fn matches(pattern: &str, value: &str) -> bool {
        thread_local!(static COMPILED: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> = Default::default());
        COMPILED.with_borrow_mut(|c| {
            c.entry(pattern.to_string()).or_insert_with(|| regex::Regex::new(pattern).unwrap()).is_match(value)
        })
    }

    #[test]
    fn the_schema_patterns_say_exactly_what_the_rules_check() {
        let ok = |r: Result<(), FieldError>| r.is_ok();
        for s in short_strings() {
            let s = s.as_str();
            let blank = s.trim().is_empty();
            assert_eq!(matches(patterns::NAME, s), ok(name("f", s)), "NAME {s:?}");
            assert_eq!(matches(patterns::NAME_OR_BLANK, s), blank || ok(name("f", s)), "NAME_OR_BLANK {s:?}");
            assert_eq!(matches(patterns::NOT_BLANK, s), !blank && ok(no_nul("f", s)), "NOT_BLANK {s:?}");
            assert_eq!(matches(patterns::NO_NUL, s), ok(no_nul("f", s)), "NO_NUL {s:?}");
            let trimmed = ok(host_entry("f", s.trim()));
            assert_eq!(matches(patterns::HOST_ENTRY_TRIMMED, s), trimmed, "HOST_ENTRY_TRIMMED {s:?}");
            let address = ok(host_entry("f", s)) && !s.contains('@');
            assert_eq!(matches(patterns::HOST_ADDRESS, s), address, "HOST_ADDRESS {s:?}");
            assert_eq!(matches(patterns::EMAIL, s), ok(email("f", s)), "EMAIL {s:?}");
        }
    }

    #[test]
    fn the_rules_written_as_patterns_accept_their_examples() {
        assert!(ok_all(username, &["admin", "a.b@c-d_e", &"x".repeat(64)]));
        assert!(username("u", &"x".repeat(65)).is_err());
        assert!(ok_all(param_key, &["VERSION", "_x", &"K".repeat(64)]));
        assert!(param_key("k", &"K".repeat(65)).is_err());
        assert!(ok_all(host_entry, &["deploy@web-1", "[fe80::1]", "10.0.0.1:22"]));
        assert!(matches(patterns::FINGERPRINT, &format!("SHA256:{}", "A".repeat(43))));
        let long_id = format!("/api/v1/tasks/{}/events", "9".repeat(18));
        let too_long_id = format!("/api/v1/tasks/{}/events", "9".repeat(19));
        for path in [
            "/api/v1/tasks/changes",
            "/api/v1/tasks/7/events",
            "/api/v1/tasks/0/logs/text",
            long_id.as_str(),
            too_long_id.as_str(),
            "",
            "/api/v1/tasks/",
            "/api/v1/tasks//events",
            "/api/v1/tasks/x/events",
            "/api/v1/tasks/7/events/",
            "/api/v1/tasks/7/events?after=1",
            "/api/v1/tasks/7/logs",
            "/api/v1/tasks/7/run",
            "/api/v1/tasks/changes\n",
            "/api/v1/tasks/１/events",
            "/API/V1/TASKS/CHANGES",
            "/api/v1/me",
        ] {
            assert_eq!(matches(patterns::TICKET_PATH, path), ticket_path("f", path).is_ok(), "{path:?}");
        }
        assert!(ok_all(ticket_path, &["/api/v1/tasks/changes", "/api/v1/tasks/7/events", long_id.as_str()]));
        assert!(ticket_path("f", &too_long_id).is_err());
        assert!(matches(patterns::INTERPRETER, "/usr/bin/python3") && !matches(patterns::INTERPRETER, "ba sh"));
    }

    fn ok_all(rule: fn(&str, &str) -> Result<(), FieldError>, values: &[&str]) -> bool {
        values.iter().all(|v| rule("f", v).is_ok())
    }

    #[test]
    fn nested_field_paths_read_naturally() {
        let e = FieldError::new("timeout_secs", "bad").within("steps[2]");
        assert_eq!(e.field, "steps[2].timeout_secs");
        let e = FieldError::new("[0]", "bad").within("hosts.1");
        assert_eq!(e.field, "hosts.1[0]");
    }
}
