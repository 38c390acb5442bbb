//! The fixed patterns of [`super::patterns`] as character checks, so the web UI's wasm
//! carries no regular-expression engine; `tests.rs` holds each to its pattern.

/// [`super::patterns::USERNAME`]: `^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`.
pub(super) fn username(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && ascii_run(s, 1, 64, |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// [`super::patterns::PARAM_KEY`]: `^[A-Za-z_][A-Za-z0-9_]{0,63}$`.
pub(super) fn param_key(s: &str) -> bool {
    s.as_bytes().first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && ascii_run(s, 1, 64, |b| b.is_ascii_alphanumeric() || b == b'_')
}

/// [`super::patterns::GROUP`]: `^(?:local|[1-9][0-9]{0,2})$`.
pub(super) fn ticket_path(s: &str) -> bool {
    let id = |s: &str| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    match s.strip_prefix("/api/v1/tasks/") {
        Some("changes") => true,
        Some(rest) => matches!(rest.split_once('/'), Some((task, "events" | "logs/text")) if id(task)),
        None => false,
    }
}

pub(super) fn group(s: &str) -> bool {
    s == "local" || (!s.starts_with('0') && ascii_run(s, 1, 3, |b| b.is_ascii_digit()))
}

/// [`super::patterns::HOST_ENTRY`]: an optional `user@` (`[A-Za-z0-9_.-]{1,64}`) before a
/// [`host_address`]. Neither part may hold an `@`, so the first one splits them.
pub(super) fn host_entry(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, host)) => {
            ascii_run(user, 1, 64, |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                && host_address(host)
        }
        None => host_address(s),
    }
}

/// [`super::patterns::HOST_ADDRESS`]: `^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})$`.
pub(super) fn host_address(s: &str) -> bool {
    match s.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        Some(inside) => ascii_run(inside, 1, usize::MAX, |b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.')),
        None => ascii_run(s, 1, 253, |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')),
    }
}

/// `min..=max` bytes, each `allowed` (all ASCII, so as many characters).
fn ascii_run(s: &str, min: usize, max: usize, allowed: fn(u8) -> bool) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(allowed)
}

/// A date, optionally with a time and a zone, as the pattern
/// `^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$`
/// reads it, `\d` being any Unicode decimal digit as in Rust's `regex`. Every run of
/// digits there ends at a character that is not a digit (or at the end), except the
/// zone's `\d{2}\d{2}`, so reading each run whole and counting it decides the match.
pub(super) fn datetime(s: &str) -> bool {
    let mut c = Cursor(s.chars().peekable());
    let date = c.digits() == 4 && c.eat('-') && (1..=2).contains(&c.digits()) && c.eat('-');
    if !date || !(1..=2).contains(&c.digits()) {
        return false;
    }
    if c.done() {
        return true;
    }
    let time = (c.eat(' ') || c.eat('T')) && (1..=2).contains(&c.digits()) && c.eat(':') && c.digits() == 2;
    let seconds = !c.eat(':') || (c.digits() == 2 && (!c.eat('.') || c.digits() >= 1));
    let zone = if c.eat('+') || c.eat('-') {
        match c.digits() {
            4 => true,
            2 => c.eat(':') && c.digits() == 2,
            _ => false,
        }
    } else {
        c.done() || c.eat('Z')
    };
    time && seconds && zone && c.done()
}

struct Cursor<'a>(std::iter::Peekable<std::str::Chars<'a>>);

impl Cursor<'_> {
    /// Reads a run of decimal digits; returns its length.
    fn digits(&mut self) -> usize {
        std::iter::from_fn(|| self.0.next_if(|c| is_decimal_digit(*c))).count()
    }

    fn eat(&mut self, want: char) -> bool {
        self.0.next_if_eq(&want).is_some()
    }

    fn done(&mut self) -> bool {
        self.0.peek().is_none()
    }
}

/// The zero of each run of ten Unicode decimal digits (general category `Nd`, Unicode
/// 16.0, as `regex-syntax` 0.8 reads `\d`); a test holds this list to the regex crate.
const DIGIT_ZEROS: &[u32] = &[
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0,
    0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x10D40, 0x11066, 0x110F0, 0x11136,
    0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x116D0, 0x116DA, 0x11730, 0x118E0, 0x11950, 0x11BF0,
    0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16130, 0x16A60, 0x16AC0, 0x16B50, 0x16D70, 0x1CCF0, 0x1D7CE, 0x1D7D8,
    0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E5F1, 0x1E950, 0x1FBF0,
];

fn is_decimal_digit(c: char) -> bool {
    let c = u32::from(c);
    let after = DIGIT_ZEROS.partition_point(|zero| *zero <= c);
    after > 0 && c - DIGIT_ZEROS[after - 1] < 10
}

#[cfg(test)]
mod tests;
