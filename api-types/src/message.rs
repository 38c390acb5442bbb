//! Messages for people (validation errors) in the reader's language.
//!
//! A message is an English template with `{name}` places and their values. The template
//! is also its key in each other language's catalogue (`api-types/messages/LOCALE.json`,
//! English template → translated template), as gettext keys a translation by its English
//! `msgid`: a message without a translation reads in English. The server picks the
//! language from the request's `Accept-Language`; the web UI uses the same catalogue for
//! the checks it makes before sending.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The languages with a catalogue, besides English.
pub const LOCALES: [&str; 1] = ["zh-CN"];

fn catalogue(locale: &str) -> Option<&'static HashMap<String, String>> {
    static ZH_CN: OnceLock<HashMap<String, String>> = OnceLock::new();
    match locale {
        "zh-CN" => Some(ZH_CN.get_or_init(|| {
            serde_json::from_str(include_str!("../messages/zh-CN.json")).expect("messages/zh-CN.json is a JSON object")
        })),
        _ => None,
    }
}

/// The catalogue's language for an `Accept-Language` header (its first language the
/// catalogues have, any `zh` being `zh-CN`), or `None` for English.
/// Only the first 32 languages count (a browser sends a handful; a header of thousands
/// costs no sorting).
pub fn locale_for(accept_language: &str) -> Option<&'static str> {
    let mut ranked: Vec<(f32, &str)> = accept_language
        .split(',')
        .take(32)
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let weight = |p: &str| {
                let (name, value) = p.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then(|| value.trim().parse::<f32>().ok()).flatten()
            };
            // A weight outside 0–1 (or unreadable) is no weight: the tag counts as 1.
            let q = pieces.find_map(weight).filter(|q| (0.0..=1.0).contains(q)).unwrap_or(1.0);
            (!tag.is_empty() && q > 0.0).then_some((q, tag))
        })
        .collect();
    // Stable: equal weights keep their order.
    ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    for (_, tag) in ranked {
        let lower = tag.to_ascii_lowercase();
        if lower == "en" || lower.starts_with("en-") {
            return None;
        }
        if lower == "zh" || lower.starts_with("zh-") {
            return Some("zh-CN");
        }
    }
    None
}

/// An English template and the values of its `{name}` places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    template: Cow<'static, str>,
    args: Vec<(&'static str, Arg)>,
}

/// The value of a place: a text as it is, or a message read in the same language.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Text(String),
    Nested(Box<Message>),
}

impl Message {
    pub fn new(template: &'static str) -> Self {
        Message { template: Cow::Borrowed(template), args: vec![] }
    }

    /// Gives the place `{name}` its value.
    pub fn arg(mut self, name: &'static str, value: impl std::fmt::Display) -> Self {
        self.args.push((name, Arg::Text(value.to_string())));
        self
    }

    /// Gives the place `{name}` another message, read in the same language as this one.
    pub fn nested(mut self, name: &'static str, message: Message) -> Self {
        self.args.push((name, Arg::Nested(Box::new(message))));
        self
    }

    /// The message in English.
    pub fn text(&self) -> String {
        self.text_in(None)
    }

    /// The message in `locale` (a catalogue's name, e.g. `zh-CN`), English when it has
    /// no translation of it.
    pub fn text_in(&self, locale: Option<&str>) -> String {
        let template = locale.and_then(catalogue).and_then(|c| c.get(self.template.as_ref()));
        let texts: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(name, arg)| match arg {
                Arg::Text(t) => (*name, t.clone()),
                Arg::Nested(m) => (*name, m.text_in(locale)),
            })
            .collect();
        let values: Vec<(&str, &dyn std::fmt::Display)> =
            texts.iter().map(|(n, t)| (*n, t as &dyn std::fmt::Display)).collect();
        fill(template.map_or(self.template.as_ref(), String::as_str), &values)
    }
}

impl From<&'static str> for Message {
    fn from(text: &'static str) -> Self {
        Message::new(text)
    }
}

/// A text made at run time: its own template (translated only if a catalogue has it word
/// for word).
impl From<String> for Message {
    fn from(text: String) -> Self {
        Message { template: Cow::Owned(text), args: vec![] }
    }
}

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// `template` with each value in its `{name}` place: `fill("step {n}", &[("n", &7)])`. One
/// pass, so a value holding `{name}` (a template called "{host}") stays as it is; a place
/// without a value, and a lone brace, stay as written.
pub fn fill(template: &str, values: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').filter(|&c| after[..c].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        match close.and_then(|c| values.iter().find(|(n, _)| *n == &after[..c]).map(|(_, v)| (c, v))) {
            Some((c, value)) => {
                out.push_str(&value.to_string());
                rest = &after[c + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `n` with its digits grouped by threes with `separator`: `group_digits(-1234567, ",")` is
/// `-1,234,567`.
pub fn group_digits(n: i64, separator: &str) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * separator.len() + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_threes_from_the_right() {
        let cases = [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (-1000, "-1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
            (-12_345, "-12,345"),
            (i64::MAX, "9,223,372,036,854,775,807"),
            (i64::MIN, "-9,223,372,036,854,775,808"),
        ];
        for (n, written) in cases {
            assert_eq!(group_digits(n, ","), written, "{n}");
        }
        assert_eq!(group_digits(1_234_567, "\u{202f}"), "1\u{202f}234\u{202f}567");
    }

    #[test]
    fn a_message_reads_in_english_and_in_chinese_with_its_values() {
        let m = Message::new("must be at most {max} characters").arg("max", 100);
        assert_eq!(m.text(), "must be at most 100 characters");
        let zh = m.text_in(Some("zh-CN"));
        assert!(zh.contains("100") && !zh.contains("must"), "{zh}");
        assert_eq!(m.text_in(None), m.text());
        assert_eq!(m.text_in(Some("fr")), m.text());
    }

    #[test]
    fn a_value_is_never_read_as_a_place() {
        let m = Message::new("{value} is not a host name or address").arg("value", "\"{value}{x}\"");
        assert_eq!(m.text(), "\"{value}{x}\" is not a host name or address");
        assert!(m.text_in(Some("zh-CN")).starts_with("\"{value}{x}\""));
        // A place without a value, and a lone brace, stay as they are.
        assert_eq!(Message::new("a {b} {c").text(), "a {b} {c");
    }

    #[test]
    fn the_language_comes_from_accept_language() {
        assert_eq!(locale_for("zh-CN,zh;q=0.9,en;q=0.8"), Some("zh-CN"));
        assert_eq!(locale_for("zh-TW"), Some("zh-CN"));
        assert_eq!(locale_for("en-US,zh-CN;q=0.5"), None);
        assert_eq!(locale_for("fr, zh;q=0.3"), Some("zh-CN"));
        assert_eq!(locale_for("zh;q=0, en"), None);
        assert_eq!(locale_for("en;q=0.2, zh-CN;q=0.8"), Some("zh-CN"));
        assert_eq!(locale_for(""), None);
        assert_eq!(locale_for(";;;,,q=,zh;q=abc"), Some("zh-CN"));
        assert_eq!(locale_for("zh;Q=0, en;q=0.5"), None, "parameter names ignore case");
        assert_eq!(locale_for("zh;q=1e40, en;q=0.9"), Some("zh-CN"), "out of range counts as 1");
        assert_eq!(locale_for("zh;q=0.1, en;q=inf"), None);
        let long = format!("{}zh", "fr,".repeat(40));
        assert_eq!(locale_for(&long), None, "past the first 32 languages nothing counts");
    }

    #[test]
    fn every_translation_keeps_the_places_of_its_template() {
        for locale in LOCALES {
            for (english, translated) in catalogue(locale).unwrap() {
                let places = |t: &str| {
                    let mut p: Vec<String> = t
                        .split('{')
                        .skip(1)
                        .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_string()))
                        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                        .collect();
                    p.sort();
                    p
                };
                assert_eq!(places(english), places(translated), "{locale}: {english:?} → {translated:?}");
            }
        }
    }
}

/// Every message the server's and the UI's code writes has a translation: the English
/// templates are read out of the source (the second argument of `validation(…)` and
/// `FieldError::new(…)`, and every `Message::new(…)`), outside test modules.
#[cfg(test)]
mod coverage {
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The arguments of the call whose `(` is at the start of `text`, split at top-level commas.
    fn arguments(text: &str) -> Vec<String> {
        let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
        let (mut args, mut current) = (vec![], String::new());
        for c in text.chars() {
            if in_str {
                current.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_str = false;
                }
                continue;
            }
            match c {
                '"' => {
                    in_str = true;
                    current.push(c);
                }
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > 1 {
                        current.push(c);
                    }
                }
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        args.push(current.trim().to_string());
                        return args;
                    }
                    current.push(c);
                }
                ',' if depth == 1 => args.push(std::mem::take(&mut current).trim().to_string()),
                _ => current.push(c),
            }
        }
        args
    }

    /// A Rust string literal's text (escapes and line continuations read), `.into()` or not.
    fn literal(arg: &str) -> Option<String> {
        let arg = arg.strip_suffix(".into()").unwrap_or(arg);
        let arg = arg.strip_prefix("Some(").and_then(|a| a.strip_suffix(')')).unwrap_or(arg);
        let body = arg.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('\n') => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        }
        Some(out)
    }

    #[test]
    fn every_message_the_code_writes_has_a_translation() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let mut files = vec![];
        for dir in ["api-types/src", "backend/src", "frontend/src"] {
            sources(&root.join(dir), &mut files);
        }
        let mut missing = std::collections::BTreeSet::new();
        let mut built = vec![];
        let mut found = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (call, argument) in [
                ("Message::new(", 0),
                ("FieldError::new(", 1),
                ("::validation(", 1),
                ("ServiceError::Conflict(", 0),
                ("ServiceError::Forbidden(", 0),
                ("ServiceError::Unauthorized(", 0),
                ("ServiceError::Busy(", 0),
                (" unauthorized(", 0),
                ("(unauthorized(", 0),
                ("or_not_found(", 0),
                ("::not_found(", 0),
                (" invalid(", 1),
                ("(invalid(", 1),
                ("may_act(", 2),
                ("self.lose(", 1),
                ("self.single(", 1),
            ] {
                for (at, _) in code.match_indices(call) {
                    let args = arguments(&code[at + call.len() - 1..]);
                    let Some(arg) = args.get(argument) else { continue };
                    if arg.starts_with("format!") {
                        built.push(format!("{}: {call}… {arg}", file.display()));
                    } else if let Some(template) = literal(arg) {
                        found += 1;
                        for locale in super::LOCALES {
                            if !super::catalogue(locale).unwrap().contains_key(&template) {
                                missing.insert(format!("{locale}: {template:?}"));
                            }
                        }
                    }
                }
            }
        }
        // Words put into messages: the statuses of a task.
        for status in crate::TaskStatus::ALL {
            found += 1;
            if !super::catalogue("zh-CN").unwrap().contains_key(status.as_str()) {
                missing.insert(format!("zh-CN: {:?}", status.as_str()));
            }
        }
        assert!(found > 50, "only {found} messages found: is the scan still reading the source?");
        assert!(
            built.is_empty(),
            "messages built with format! cannot be translated; use Message:\n{}",
            built.join("\n")
        );
        assert!(
            missing.is_empty(),
            "{} messages lack a translation:\n{}",
            missing.len(),
            missing.into_iter().collect::<Vec<_>>().join("\n")
        );
    }
}
