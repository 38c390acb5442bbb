//! A small POSIX-shell lexer that finds the quoting context of each placeholder in a
//! rendered script, and the escaping that keeps a value literal there.
//!
//! It follows only what decides quoting: quotes, `\`, `$(…)`, `${…}`, `$((…))`, backquotes,
//! comments and here-documents. Where the shells Taskgate supports (dash, bash, busybox
//! sh, ksh, mksh, zsh) could read the text differently, it gives up: every placeholder
//! from there on is refused rather than guessed at.

use api_types::Message;

/// Where a placeholder's output lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Outside any quotes: the value becomes `'…'`.
    Unquoted,
    /// Inside `"…"`: `\`, `$`, `` ` `` and `"` get a backslash.
    Double,
    /// Inside `'…'`: each `'` becomes `'\''`.
    Single,
}

impl Quoting {
    /// `value` written so that, in this context, the shell reads exactly its bytes.
    pub fn escape(self, value: &str) -> String {
        match self {
            Quoting::Unquoted => format!("'{}'", value.replace('\'', r"'\''")),
            Quoting::Single => value.replace('\'', r"'\''"),
            Quoting::Double => {
                let mut out = String::with_capacity(value.len() + 8);
                for c in value.chars() {
                    if matches!(c, '\\' | '$' | '`' | '"') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out
            }
        }
    }
}

/// One placeholder found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    /// Byte range of its marker in the scanned text.
    pub start: usize,
    pub end: usize,
    /// Which placeholder output (in rendering order).
    pub index: usize,
    /// Its context, or why no escaping is safe there.
    pub quoting: Result<Quoting, Message>,
}

/// Recognises a placeholder marker at the start of `rest`: its length and its index.
pub type Marker<'a> = &'a dyn Fn(&str) -> Option<(usize, usize)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Commands: the script itself, or inside `$(…)` (`subst`), with `(` depth, and the
    /// `(` and `[` opened inside a word (`@(…)`, `x[…]`) and not yet closed.
    Cmd { subst: bool, parens: usize, groups: Groups },
    /// `"…"`; `translated` for bash's `$"…"`.
    Double { translated: bool },
    /// `${…}` with `{` depth.
    Param { braces: usize },
    /// `$((…))` or `((…))` with `(` depth.
    Arith { parens: usize },
}

/// Brackets opened inside a word. bash reads an extglob `@(…)`, a subscript `x[…]` and
/// the `(…)` of a `=~` regular expression as part of one word, where `#` starts no
/// comment and a newline ends nothing: the lexer cannot follow that, so a comment or a
/// newline while one is open makes it give up.
///
/// Also the `(…)` of a bash array assignment (`x=(…)`): bash reads a syntax error inside
/// one (a `;`, `|`, `&`, `(` or `<<` there) by skipping the rest of the line and going on
/// with the next, and when that error comes before a placeholder whose value spans lines,
/// the value's second line runs as a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Groups {
    parens: usize,
    brackets: usize,
    arrays: usize,
}

impl Groups {
    fn open(self) -> bool {
        self.parens > 0 || self.brackets > 0
    }
}

struct HereDoc {
    delimiter: Vec<u8>,
    strip_tabs: bool,
    depth: usize,
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    marker: Marker<'a>,
    stack: Vec<Frame>,
    pending: Vec<HereDoc>,
    word_start: bool,
    /// The last word was `=~`: a `(` opening the next one belongs to a regular expression.
    regex_next: bool,
    spots: Vec<Spot>,
    /// Set once the text can no longer be followed with certainty.
    lost: Option<Message>,
}

/// Every placeholder marker in `text`, with its context.
pub fn scan(text: &str, marker: Marker<'_>) -> Vec<Spot> {
    let mut lx = Lexer {
        text,
        bytes: text.as_bytes(),
        marker,
        stack: vec![Frame::Cmd { subst: false, parens: 0, groups: Groups::default() }],
        pending: Vec::new(),
        word_start: true,
        regex_next: false,
        spots: Vec::new(),
        lost: None,
    };
    lx.run();
    lx.spots
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn ends_word(b: u8) -> bool {
    is_blank(b) || matches!(b, b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')')
}

impl Lexer<'_> {
    fn line_at(&self, i: usize) -> usize {
        self.bytes[..i.min(self.bytes.len())].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn marker_at(&self, i: usize) -> Option<(usize, usize)> {
        // Markers start with a multi-byte character, so a byte that starts one is a char boundary.
        if i < self.bytes.len() && self.bytes[i] >= 0xC0 {
            (self.marker)(&self.text[i..])
        } else {
            None
        }
    }

    fn spot(&mut self, i: usize, len: usize, index: usize, quoting: Result<Quoting, Message>) {
        let quoting = match &self.lost {
            Some(reason) => Err(reason.clone()),
            None => quoting,
        };
        self.spots.push(Spot { start: i, end: i + len, index, quoting });
    }

    /// From here on nothing is certain: later placeholders are refused with `why`.
    fn lose(&mut self, i: usize, why: &'static str) {
        if self.lost.is_none() {
            self.lost = Some(
                Message::new("it comes after {what} (line {line}), where shells disagree on what follows")
                    .nested("what", Message::new(why))
                    .arg("line", self.line_at(i)),
            );
        }
    }

    /// The context of a placeholder at the current position, from the frames.
    fn context(&self) -> Result<Quoting, Message> {
        let mut quoting = None;
        for frame in self.stack.iter().rev() {
            match frame {
                Frame::Double { translated: true } => return Err(Message::new("it is inside $\"…\"")),
                Frame::Double { .. } => {
                    quoting.get_or_insert(Quoting::Double);
                }
                Frame::Param { .. } => return Err(Message::new("it is inside a parameter expansion ${…}")),
                Frame::Arith { .. } => {
                    return Err(Message::new("it is inside an arithmetic expression $((…)) or ((…))"))
                }
                Frame::Cmd { .. } => return Ok(quoting.unwrap_or(Quoting::Unquoted)),
            }
        }
        Ok(Quoting::Unquoted)
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.bytes.len() {
            if self.lost.is_some() {
                // Only markers matter now; all of them are refused.
                match self.marker_at(i) {
                    Some((len, index)) => {
                        self.spot(i, len, index, Err(Message::from(String::new())));
                        i += len;
                    }
                    None => i += 1,
                }
                continue;
            }
            if let Some((len, index)) = self.marker_at(i) {
                let ctx = self.context();
                self.spot(i, len, index, ctx);
                self.word_start = false;
                i += len;
                continue;
            }
            let frame = *self.stack.last().expect("the command frame is never popped");
            i = match frame {
                Frame::Cmd { subst, parens, groups } => self.in_cmd(i, subst, parens, groups),
                Frame::Double { .. } => self.in_double(i),
                Frame::Param { braces } => self.in_param(i, braces),
                Frame::Arith { parens } => self.in_arith(i, parens),
            };
        }
    }

    fn set_top(&mut self, frame: Frame) {
        *self.stack.last_mut().expect("frame") = frame;
    }

    fn push(&mut self, frame: Frame) {
        self.stack.push(frame);
    }

    fn pop(&mut self, i: usize) {
        self.stack.pop();
        if self.pending.iter().any(|h| h.depth > self.stack.len()) {
            self.lose(i, "a here-document opened inside a substitution");
        }
    }

    /// `\` at `i`: skips the escaped character; a marker cannot be escaped.
    fn backslash(&mut self, i: usize) -> usize {
        if let Some((len, index)) = self.marker_at(i + 1) {
            self.spot(i + 1, len, index, Err(Message::new("it comes right after a backslash")));
            return i + 1 + len;
        }
        (i + 2).min(self.bytes.len())
    }

    /// `$` at `i` outside single quotes; `in_double` when inside `"…"`.
    fn dollar(&mut self, i: usize, in_double: bool) -> usize {
        if let Some((len, index)) = self.marker_at(i + 1) {
            self.spot(i + 1, len, index, Err(Message::new("it comes right after a $")));
            return i + 1 + len;
        }
        match self.bytes.get(i + 1) {
            Some(b'(') if self.bytes.get(i + 2) == Some(&b'(') => {
                self.push(Frame::Arith { parens: 0 });
                i + 3
            }
            Some(b'(') => {
                self.push(Frame::Cmd { subst: true, parens: 0, groups: Groups::default() });
                self.word_start = true;
                i + 2
            }
            Some(b'{') => {
                self.push(Frame::Param { braces: 0 });
                i + 2
            }
            Some(b'[') => {
                self.lose(i, "$[");
                i + 2
            }
            Some(b'\'') if !in_double => self.dollar_single(i),
            Some(b'"') if !in_double => {
                self.push(Frame::Double { translated: true });
                i + 2
            }
            _ => i + 1,
        }
    }

    /// `'…'` starting at `i`; markers inside get `inside` (or single-quote escaping).
    fn single(&mut self, i: usize, inside: Option<&'static str>) -> usize {
        let mut j = i + 1;
        let mut found = Vec::new();
        while j < self.bytes.len() && self.bytes[j] != b'\'' {
            if let Some((len, index)) = self.marker_at(j) {
                found.push((j, len, index));
                j += len;
            } else {
                self.crossing_newline(j);
                j += 1;
            }
        }
        let closed = j < self.bytes.len();
        for (at, len, index) in found {
            let quoting = match (inside, closed) {
                (Some(why), _) => Err(Message::new(why)),
                (None, false) => Err(Message::new("it is inside an unterminated '…'")),
                (None, true) => Ok(Quoting::Single),
            };
            self.spot(at, len, index, quoting);
        }
        (j + 1).min(self.bytes.len())
    }

    /// bash's `$'…'` at `i` (dash reads `$` and then `'…'`: they agree unless it holds `\'`).
    fn dollar_single(&mut self, i: usize) -> usize {
        let mut j = i + 2;
        let mut escaped_quote = false;
        while j < self.bytes.len() && self.bytes[j] != b'\'' {
            if let Some((len, index)) = self.marker_at(j) {
                self.spot(j, len, index, Err(Message::new("it is inside $'…'")));
                j += len;
                continue;
            }
            if self.bytes[j] == b'\\' {
                if self.bytes.get(j + 1) == Some(&b'\'') {
                    escaped_quote = true;
                }
                j += 1;
            }
            self.crossing_newline(j);
            j += 1;
        }
        if escaped_quote {
            self.lose(i, "a $'…' string holding \\'");
        }
        (j + 1).min(self.bytes.len())
    }

    /// A backquoted command at `i`: markers inside are refused; what POSIX leaves
    /// undefined inside it makes the rest uncertain.
    fn backquote(&mut self, i: usize) -> usize {
        let mut j = i + 1;
        let mut risky = false;
        while j < self.bytes.len() && self.bytes[j] != b'`' {
            if let Some((len, index)) = self.marker_at(j) {
                self.spot(j, len, index, Err(Message::new("it is inside a backquoted command `…`")));
                j += len;
                continue;
            }
            match self.bytes[j] {
                b'\\' => j += 1,
                b'\'' | b'"' | b'#' => risky = true,
                b'$' if self.bytes.get(j + 1) == Some(&b'(') => risky = true,
                b'<' if self.bytes.get(j + 1) == Some(&b'<') => risky = true,
                _ => {}
            }
            self.crossing_newline(j);
            j += 1;
        }
        if risky || j >= self.bytes.len() {
            self.lose(i, "a backquoted command `…` holding quotes, comments or $(…)");
        }
        self.word_start = false;
        (j + 1).min(self.bytes.len())
    }

    /// A newline inside a quoted region while a here-document waits for its body.
    fn crossing_newline(&mut self, j: usize) {
        if self.bytes.get(j) == Some(&b'\n') && !self.pending.is_empty() {
            self.lose(j, "a here-document whose command goes on over several lines");
        }
    }

    fn in_cmd(&mut self, i: usize, subst: bool, parens: usize, groups: Groups) -> usize {
        let b = self.bytes[i];
        let at_word_start = self.word_start;
        self.word_start = ends_word(b);
        let regex_word = std::mem::take(&mut self.regex_next);
        if is_blank(b) {
            // Still between `=~` and its word.
            self.regex_next = regex_word;
        }
        match b {
            b'\\' if self.bytes.get(i + 1) == Some(&b'\n') => {
                self.word_start = at_word_start;
                self.regex_next = regex_word;
                i + 2
            }
            b'\\' => self.backslash(i),
            b'\'' => self.single(i, None),
            b'"' => {
                self.push(Frame::Double { translated: false });
                i + 1
            }
            b'`' => self.backquote(i),
            b'$' => self.dollar(i, false),
            b'#' if at_word_start => {
                if groups.open() {
                    self.lose(i, "a # inside a word's (…) or […], which bash does not read as a comment");
                }
                self.comment(i)
            }
            b'\n' if groups.open() => {
                self.lose(i, "a line that ends inside a word's (…) or […], which bash reads on");
                i + 1
            }
            b'(' if self.bytes.get(i + 1) == Some(&b'(') => {
                // bash reads an arithmetic command; dash and busybox sh read two subshells,
                // where `#` starts a comment and `<<` a here-document.
                self.lose(i, "((…)), which dash and busybox sh read as two subshells");
                self.push(Frame::Arith { parens: 0 });
                i + 2
            }
            b'(' => {
                // A `(` inside a word (not a function's `()`, not an array's `=(`) opens an
                // extglob pattern, as does the `(` that starts a `=~` regular expression.
                let function = self.bytes.get(i + 1) == Some(&b')');
                let array = i > 0 && self.bytes[i - 1] == b'=';
                if groups.arrays > 0 {
                    self.lose(i, "a ( inside an array assignment x=(…)");
                }
                let in_word = regex_word || (!at_word_start && !function && !array);
                let groups = Groups {
                    parens: groups.parens + usize::from(in_word),
                    arrays: groups.arrays + usize::from(array && !regex_word),
                    ..groups
                };
                let parens = if subst { parens + 1 } else { parens };
                self.set_top(Frame::Cmd { subst, parens, groups });
                i + 1
            }
            b')' if subst && parens == 0 => {
                if groups.open() || groups.arrays > 0 {
                    self.lose(i, "a $(…) that ends inside a word's (…) or […]");
                }
                self.pop(i);
                self.word_start = false;
                i + 1
            }
            b')' => {
                let groups = if groups.parens > 0 {
                    Groups { parens: groups.parens - 1, ..groups }
                } else {
                    Groups { arrays: groups.arrays.saturating_sub(1), ..groups }
                };
                let parens = if subst { parens - 1 } else { parens };
                self.set_top(Frame::Cmd { subst, parens, groups });
                i + 1
            }
            b'[' if !at_word_start && self.bytes[i - 1] != b'[' => {
                self.set_top(Frame::Cmd { subst, parens, groups: Groups { brackets: groups.brackets + 1, ..groups } });
                i + 1
            }
            b']' if groups.brackets > 0 => {
                self.set_top(Frame::Cmd { subst, parens, groups: Groups { brackets: groups.brackets - 1, ..groups } });
                i + 1
            }
            b';' | b'|' | b'&' if groups.arrays > 0 => {
                self.lose(i, "an operator inside an array assignment x=(…)");
                i + 1
            }
            b'<' if self.bytes.get(i + 1) == Some(&b'<') => {
                if groups.arrays > 0 {
                    self.lose(i, "an operator inside an array assignment x=(…)");
                }
                if self.bytes.get(i + 2) == Some(&b'<') {
                    i + 3
                } else {
                    self.here_doc(i)
                }
            }
            b'\n' if !self.pending.is_empty() => self.here_bodies(i),
            b'=' if at_word_start && self.word_is(i, b"=~") => {
                self.regex_next = true;
                i + 2
            }
            b'a' if at_word_start && self.word_is(i, b"alias") => {
                // dash, busybox sh and bash --posix expand aliases in scripts: a definition
                // changes how every later line is read.
                self.lose(i, "alias, whose definitions change how later lines are read");
                i + 1
            }
            b'c' if subst && at_word_start && self.word_is(i, b"case") => {
                // `case` patterns end in an unmatched `)`, which would end `$(…)` early.
                self.lose(i, "a case statement inside $(…)");
                i + 1
            }
            _ => i + 1,
        }
    }

    /// True when the word starting at `i` is `word`.
    fn word_is(&self, i: usize, word: &[u8]) -> bool {
        self.bytes[i..].starts_with(word) && self.bytes.get(i + word.len()).is_none_or(|b| ends_word(*b))
    }

    fn in_double(&mut self, i: usize) -> usize {
        match self.bytes[i] {
            b'\\' => self.backslash(i),
            b'"' => {
                self.pop(i);
                self.word_start = false;
                i + 1
            }
            b'`' => self.backquote(i),
            b'$' => self.dollar(i, true),
            _ => {
                self.crossing_newline(i);
                i + 1
            }
        }
    }

    fn in_param(&mut self, i: usize, braces: usize) -> usize {
        let quoted_parent = matches!(self.stack.iter().rev().nth(1), Some(Frame::Double { .. }));
        match self.bytes[i] {
            b'}' if braces == 0 => {
                self.pop(i);
                self.word_start = false;
                i + 1
            }
            b'}' => {
                self.set_top(Frame::Param { braces: braces - 1 });
                i + 1
            }
            b'{' => {
                self.set_top(Frame::Param { braces: braces + 1 });
                i + 1
            }
            b'\\' => self.backslash(i),
            b'\'' if quoted_parent => {
                self.lose(i, "a ' inside \"${…}\"");
                i + 1
            }
            b'\'' => self.single(i, Some("it is inside a parameter expansion ${…}")),
            b'"' => {
                self.push(Frame::Double { translated: false });
                i + 1
            }
            b'`' => self.backquote(i),
            b'$' => self.dollar(i, false),
            _ => {
                self.crossing_newline(i);
                i + 1
            }
        }
    }

    fn in_arith(&mut self, i: usize, parens: usize) -> usize {
        match self.bytes[i] {
            b'(' => {
                self.set_top(Frame::Arith { parens: parens + 1 });
                i + 1
            }
            b')' if parens > 0 => {
                self.set_top(Frame::Arith { parens: parens - 1 });
                i + 1
            }
            b')' if self.bytes.get(i + 1) == Some(&b')') => {
                self.pop(i);
                self.word_start = false;
                i + 2
            }
            b')' => {
                self.lose(i, "((…)) closed by a single )");
                i + 1
            }
            b'$' => self.dollar(i, true),
            b'\'' | b'"' | b'`' | b'\\' => {
                self.lose(i, "quotes or escapes inside an arithmetic expression");
                i + 1
            }
            _ => {
                self.crossing_newline(i);
                i + 1
            }
        }
    }

    /// `#…` up to the end of the line.
    fn comment(&mut self, i: usize) -> usize {
        let mut j = i;
        while j < self.bytes.len() && self.bytes[j] != b'\n' {
            if let Some((len, index)) = self.marker_at(j) {
                self.spot(j, len, index, Err(Message::new("it is inside a comment")));
                j += len;
            } else {
                j += 1;
            }
        }
        self.word_start = true;
        j
    }

    /// `<<word` or `<<-word` at `i`: records the here-document its body will follow.
    fn here_doc(&mut self, i: usize) -> usize {
        let mut j = i + 2;
        let strip_tabs = self.bytes.get(j) == Some(&b'-');
        if strip_tabs {
            j += 1;
        }
        while j < self.bytes.len() && is_blank(self.bytes[j]) {
            j += 1;
        }
        let mut delimiter = Vec::new();
        let mut certain = true;
        while j < self.bytes.len() && !ends_word(self.bytes[j]) {
            if let Some((len, index)) = self.marker_at(j) {
                self.spot(j, len, index, Err(Message::new("it is in a here-document's delimiter")));
                certain = false;
                j += len;
                continue;
            }
            match self.bytes[j] {
                b'\'' => {
                    let end = self.bytes[j + 1..].iter().position(|b| *b == b'\'');
                    match end {
                        Some(n) => {
                            delimiter.extend_from_slice(&self.bytes[j + 1..j + 1 + n]);
                            j += n + 2;
                        }
                        None => {
                            certain = false;
                            j = self.bytes.len();
                        }
                    }
                }
                b'"' => {
                    // Quoted, not expanded; `\`, `$` and `` ` `` inside are read differently.
                    let end = self.bytes[j + 1..].iter().position(|b| *b == b'"');
                    match end {
                        Some(n) if !self.bytes[j + 1..j + 1 + n].iter().any(|b| matches!(b, b'\\' | b'$' | b'`')) => {
                            delimiter.extend_from_slice(&self.bytes[j + 1..j + 1 + n]);
                            j += n + 2;
                        }
                        _ => {
                            certain = false;
                            j += 1;
                        }
                    }
                }
                b'$' | b'`' => {
                    certain = false;
                    j += 1;
                }
                b'\\' => {
                    if let Some(b) = self.bytes.get(j + 1) {
                        delimiter.push(*b);
                    }
                    j += 2;
                }
                b => {
                    delimiter.push(b);
                    j += 1;
                }
            }
        }
        if !certain || delimiter.is_empty() {
            self.lose(i, "a here-document whose delimiter Taskgate cannot read");
        } else {
            self.pending.push(HereDoc { delimiter, strip_tabs, depth: self.stack.len() });
        }
        self.word_start = false;
        j.min(self.bytes.len())
    }

    /// The newline at `i` ends a line with here-documents: skips their bodies.
    fn here_bodies(&mut self, i: usize) -> usize {
        if self.pending.iter().any(|h| h.depth != self.stack.len()) {
            self.lose(i, "a here-document opened inside a substitution");
            return i + 1;
        }
        let mut j = i + 1;
        for doc in std::mem::take(&mut self.pending) {
            loop {
                if j >= self.bytes.len() {
                    break;
                }
                let end = self.bytes[j..].iter().position(|b| *b == b'\n').map_or(self.bytes.len(), |n| j + n);
                let mut line = &self.bytes[j..end];
                if doc.strip_tabs {
                    while line.first() == Some(&b'\t') {
                        line = &line[1..];
                    }
                }
                let done = line == doc.delimiter.as_slice();
                if !done {
                    let mut k = j;
                    while k < end {
                        if let Some((len, index)) = self.marker_at(k) {
                            self.spot(k, len, index, Err(Message::new("it is inside a here-document")));
                            k += len;
                        } else {
                            k += 1;
                        }
                    }
                }
                j = (end + 1).min(self.bytes.len());
                if done {
                    break;
                }
            }
        }
        self.word_start = true;
        j
    }
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
