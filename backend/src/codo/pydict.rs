//! Reads the Python literals CODO scripts send as strings (`str(dict)`), such as
//! `"{'TAG': 'v1'}"` or `"{1: '10.0.0.1,10.0.0.2'}"`, into JSON values.
//!
//! Covers what `repr` produces for the data CODO carries: dicts, lists, tuples, strings
//! (single, double, `u''`/`r''`/`b''` prefixed, with escapes), ints, floats, True,
//! False and None. Dict keys become JSON strings (`1` → `"1"`).
//!
//! The parser is recursive, so nesting is bounded ([`MAX_DEPTH`]): a request body of
//! `[[[[…` 20,000 deep would otherwise overflow a 2 MiB worker stack and abort the server.

use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python literal at character {at}: {message}")]
pub struct PyParseError {
    pub at: usize,
    pub message: String,
}

/// How deeply dicts, lists and tuples may nest. CODO sends two levels (`{'group-1': […]}`).
pub const MAX_DEPTH: usize = 64;

pub fn parse(text: &str) -> Result<Value, PyParseError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0, depth: 0 };
    let value = p.value()?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(p.error("unexpected text after the value"));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Dicts, lists and tuples open around the current position.
    depth: usize,
}

impl Parser {
    fn error(&self, message: &str) -> PyParseError {
        PyParseError { at: self.pos, message: message.to_string() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, PyParseError> {
        self.skip_ws();
        match self.peek() {
            Some('{') => self.nested(Self::dict),
            Some('[') => self.nested(|p| p.sequence(']')),
            Some('(') => self.nested(|p| p.sequence(')')),
            Some('\'' | '"') => self.string(false).map(Value::String),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of text")),
        }
    }

    /// Parses a container one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(&mut self, parse: impl FnOnce(&mut Self) -> Result<Value, PyParseError>) -> Result<Value, PyParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_DEPTH} levels deep")));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn dict(&mut self) -> Result<Value, PyParseError> {
        self.pos += 1;
        let mut map = Map::new();
        loop {
            if self.eat('}') {
                return Ok(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                _ => return Err(self.error("dict keys must be strings or numbers")),
            };
            if !self.eat(':') {
                return Err(self.error("expected ':' after a dict key"));
            }
            let value = self.value()?;
            map.insert(key, value);
            if !self.eat(',') {
                if self.eat('}') {
                    return Ok(Value::Object(map));
                }
                return Err(self.error("expected ',' or '}' in a dict"));
            }
        }
    }

    fn sequence(&mut self, close: char) -> Result<Value, PyParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            if !self.eat(',') {
                if self.eat(close) {
                    return Ok(Value::Array(items));
                }
                return Err(self.error(&format!("expected ',' or '{close}'")));
            }
        }
    }

    fn word(&mut self) -> Result<Value, PyParseError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" | "true" => Ok(Value::Bool(true)),
            "False" | "false" => Ok(Value::Bool(false)),
            "None" | "null" => Ok(Value::Null),
            "u" | "U" | "b" | "B" if matches!(self.peek(), Some('\'' | '"')) => self.string(false).map(Value::String),
            "r" | "R" | "ur" | "UR" if matches!(self.peek(), Some('\'' | '"')) => self.string(true).map(Value::String),
            _ => {
                self.pos = start;
                Err(self.error(&format!("unknown word {word:?}")))
            }
        }
    }

    fn number(&mut self) -> Result<Value, PyParseError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || "+-._".contains(c)) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().filter(|c| **c != '_').collect();
        let text = text.trim_end_matches(['L', 'l']); // Python 2 longs
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| PyParseError { at: start, message: format!("{text:?} is not a number") })
    }

    fn string(&mut self, raw: bool) -> Result<String, PyParseError> {
        let quote = self.peek().expect("caller saw a quote");
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or_else(|| self.error("unterminated string"))?;
            self.pos += 1;
            match c {
                c if c == quote => return Ok(out),
                '\\' if raw => {
                    out.push('\\');
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.pos += 1;
                    }
                }
                '\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn hex(&mut self, digits: usize) -> Result<char, PyParseError> {
        let end = self.pos + digits;
        let text: String = self.chars.get(self.pos..end).ok_or_else(|| self.error("short escape"))?.iter().collect();
        let code = u32::from_str_radix(&text, 16).map_err(|_| self.error("bad hex escape"))?;
        self.pos = end;
        char::from_u32(code).ok_or_else(|| self.error("escape is not a character"))
    }

    fn escape(&mut self, out: &mut String) -> Result<(), PyParseError> {
        let c = self.peek().ok_or_else(|| self.error("unterminated escape"))?;
        self.pos += 1;
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' | '\'' | '"' => out.push(c),
            '\n' => {}
            'x' => out.push(self.hex(2)?),
            'u' => out.push(self.hex(4)?),
            'U' => out.push(self.hex(8)?),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_codo_hosts_and_args() {
        assert_eq!(parse("{1: '10.0.0.1,10.0.0.2'}").unwrap(), json!({"1": "10.0.0.1,10.0.0.2"}));
        assert_eq!(
            parse("{'TAG': 'codo-beta0.3', 'GIT_URL': \"git@x:y/z.git\", 'N': 3}").unwrap(),
            json!({"TAG": "codo-beta0.3", "GIT_URL": "git@x:y/z.git", "N": 3})
        );
    }

    #[test]
    fn reads_escapes_unicode_and_python2_prefixes() {
        assert_eq!(parse(r#"{'a': 'it\'s', 'b': "say \"hi\"\n"}"#).unwrap(), json!({"a": "it's", "b": "say \"hi\"\n"}));
        assert_eq!(parse("{u'VERSION': u'\\u7248\\u672c'}").unwrap(), json!({"VERSION": "版本"}));
        assert_eq!(parse("{'group-1': ['杨红飞', 'x']}").unwrap(), json!({"group-1": ["杨红飞", "x"]}));
        assert_eq!(parse("(1, True, None, 2.5,)").unwrap(), json!([1, true, null, 2.5]));
    }

    #[test]
    fn refuses_what_is_not_a_literal() {
        for bad in ["{'a': }", "{'a' 'b'}", "{'a': 'b'", "__import__('os')", "{'a': 'b'} extra"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for open in ["[", "(", "{'k': "] {
            let text = open.repeat(100_000);
            let e = parse(&text).unwrap_err();
            assert!(e.message.contains("nested more than"), "{open}: {e}");
        }
        let deepest = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deepest).is_ok());
        let one_more = format!("[{deepest}]");
        assert!(parse(&one_more).is_err());
    }

    mod fuzz {
        use proptest::prelude::*;
        use serde_json::{Map, Number, Value};

        use super::super::parse;

        /// Pieces of Python literal syntax, so that random text often gets deep into the parser.
        const TOKENS: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            "(",
            ")",
            "'",
            "\"",
            "\\",
            ":",
            ",",
            "u",
            "r",
            "b",
            "\\x",
            "\\u",
            "\\U",
            "\\0",
            "0",
            "7",
            "-",
            "+",
            ".",
            "e",
            "_",
            "L",
            "True",
            "None",
            "False",
            " ",
            "\n",
            "版",
            "1e400",
            "'a'",
            "\\\n",
            "ff",
            "0x1",
            "\u{0}",
            "\u{10ffff}",
        ];

        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![prop::sample::select(TOKENS).prop_map(str::to_string), any::<char>().prop_map(String::from)]
        }

        /// Text as Python's `repr` writes it for the values CODO sends.
        fn python(value: &Value) -> String {
            match value {
                Value::Null => "None".into(),
                Value::Bool(true) => "True".into(),
                Value::Bool(false) => "False".into(),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:?}"),
                    _ => n.to_string(),
                },
                Value::String(s) => {
                    let mut out = String::from("'");
                    for c in s.chars() {
                        match c {
                            '\\' | '\'' => {
                                out.push('\\');
                                out.push(c);
                            }
                            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
                            c => out.push(c),
                        }
                    }
                    out.push('\'');
                    out
                }
                Value::Array(items) => format!("[{}]", items.iter().map(python).collect::<Vec<_>>().join(", ")),
                Value::Object(map) => format!(
                    "{{{}}}",
                    map.iter()
                        .map(|(k, v)| format!("{}: {}", python(&Value::String(k.clone())), python(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|i| Value::Number(i.into())),
                (prop::num::f64::NORMAL | prop::num::f64::ZERO)
                    .prop_map(|f| Value::Number(Number::from_f64(f).expect("finite"))),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(6, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::btree_map(any::<String>(), inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn random_text_never_panics(pieces in prop::collection::vec(piece(), 0..120)) {
                let _ = parse(&pieces.concat());
            }

            #[test]
            fn random_deep_openers_never_overflow(
                openers in prop::collection::vec(prop::sample::select(&["[", "(", "{1: ", "{'a': ", " "][..]), 0..5000),
                tail in prop::collection::vec(piece(), 0..20),
            ) {
                let text = format!("{}{}", openers.concat(), tail.concat());
                let _ = parse(&text);
            }

            #[test]
            fn what_python_writes_reads_back(v in value()) {
                prop_assert_eq!(parse(&python(&v)).map_err(|e| e.to_string()), Ok(v));
            }
        }
    }
}
