//! Reads the Python literals CODO scripts send as strings (`str(dict)`), such as
//! `"{'TAG': 'v1'}"` or `"{1: '10.0.0.1,10.0.0.2'}"`, into JSON values.
//!
//! Covers what `repr` produces for the data CODO carries: dicts, lists, tuples, strings
//! (single, double, `u''`/`r''`/`b''` prefixed, with escapes), ints, floats, True,
//! False and None. Dict keys become JSON strings (`1` → `"1"`).

use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python literal at character {at}: {message}")]
pub struct PyParseError {
    pub at: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Value, PyParseError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0 };
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
            Some('{') => self.dict(),
            Some('[') => self.sequence('[', ']'),
            Some('(') => self.sequence('(', ')'),
            Some('\'' | '"') => self.string(false).map(Value::String),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of text")),
        }
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

    fn sequence(&mut self, _open: char, close: char) -> Result<Value, PyParseError> {
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
}
