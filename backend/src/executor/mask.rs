//! Masking secret values in a byte stream: every byte covered by an occurrence of a
//! secret (or of one line of a multi-line secret) becomes part of a `******`, even when
//! the occurrence spans lines or arrives split across reads. Only the longest tail that
//! could still begin a secret is held back, so output otherwise flows at once.
//!
//! Each secret is followed by its own KMP automaton. aho-corasick finds matches but does
//! not say how much of a match is in progress, which is exactly what streaming needs;
//! KMP's state is that length, at a fixed cost per byte and secret.

use std::sync::Arc;

use crate::task::sealed::MASK;

/// Values shorter than this are not masked: they would hide ordinary output.
pub const MIN_LEN: usize = 3;

struct Pattern {
    bytes: Vec<u8>,
    /// `fail[i]`: length of the longest proper prefix of `bytes[..=i]` that is also its suffix.
    fail: Vec<usize>,
}

impl Pattern {
    fn new(bytes: Vec<u8>) -> Pattern {
        let mut fail = vec![0; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = fail[k - 1];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            fail[i] = k;
        }
        Pattern { bytes, fail }
    }

    /// The matched length after `b`, from `q` matched before it.
    fn step(&self, mut q: usize, b: u8) -> usize {
        while q > 0 && self.bytes[q] != b {
            q = self.fail[q - 1];
        }
        if self.bytes[q] == b {
            q + 1
        } else {
            0
        }
    }
}

/// The secrets of one run.
pub struct Secrets {
    patterns: Vec<Pattern>,
    /// Bytes that begin some pattern: elsewhere, with no match in progress, a byte
    /// cannot matter and the automata are skipped.
    starts: [bool; 256],
}

impl Secrets {
    /// Each value, and each line of a multi-line value (without a trailing `\r`), of at
    /// least `MIN_LEN` bytes; also each as a shell quotes it (`'` → `'\''`, as bash's
    /// `set -x` writes it) and as JSON escapes it (`"` → `\"`, `\` → `\\`), the forms an
    /// ordinary script prints a value in.
    pub fn new(values: impl IntoIterator<Item = String>) -> Arc<Secrets> {
        let mut all: Vec<Vec<u8>> = Vec::new();
        for v in values {
            let lines: Vec<&str> = v.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
            if lines.len() > 1 {
                all.extend(lines.iter().map(|l| l.as_bytes().to_vec()));
            }
            for form in std::iter::once(v.as_str()).chain(lines.iter().copied().filter(|_| lines.len() > 1)) {
                all.push(form.replace('\'', r"'\''").into_bytes());
                let json = serde_json::to_string(form).expect("a string");
                all.push(json.as_bytes()[1..json.len() - 1].to_vec());
            }
            all.push(v.into_bytes());
        }
        all.retain(|p| p.len() >= MIN_LEN);
        all.sort();
        all.dedup();
        let mut starts = [false; 256];
        for p in &all {
            starts[usize::from(p[0])] = true;
        }
        Arc::new(Secrets { patterns: all.into_iter().map(Pattern::new).collect(), starts })
    }

    /// `text` with every secret masked (for text that arrives whole).
    pub fn mask_all(self: &Arc<Self>, text: &str) -> String {
        if self.patterns.is_empty() {
            return text.to_string();
        }
        let mut m = Masker::new(self.clone());
        let mut out = m.feed(text.as_bytes());
        out.extend(m.finish());
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Masks one stream (one pair's stdout or stderr).
pub struct Masker {
    secrets: Arc<Secrets>,
    /// Per pattern: how much of it the stream's tail matches.
    states: Vec<usize>,
    /// Bytes not yet passed on; `pending[0]` is at stream offset `emitted`.
    pending: Vec<u8>,
    emitted: u64,
    /// Covered ranges (stream offsets, end exclusive), merged, in order.
    covered: Vec<(u64, u64)>,
    /// The last byte passed on was part of a mask: a range that continues it adds none.
    in_mask: bool,
}

impl Masker {
    pub fn new(secrets: Arc<Secrets>) -> Masker {
        let states = vec![0; secrets.patterns.len()];
        Masker { secrets, states, pending: Vec::new(), emitted: 0, covered: Vec::new(), in_mask: false }
    }

    /// Takes the next bytes of the stream; returns what can be passed on, masked.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.secrets.patterns.is_empty() {
            return bytes.to_vec();
        }
        let secrets = self.secrets.clone();
        let mut i = 0;
        while i < bytes.len() {
            if self.states.iter().all(|q| *q == 0) {
                // Nothing in progress: skip ahead to a byte that can begin a secret.
                let skip = bytes[i..].iter().position(|b| secrets.starts[usize::from(*b)]).unwrap_or(bytes.len() - i);
                self.pending.extend_from_slice(&bytes[i..i + skip]);
                i += skip;
                if i == bytes.len() {
                    break;
                }
            }
            let b = bytes[i];
            i += 1;
            self.pending.push(b);
            let end = self.emitted + self.pending.len() as u64;
            for (k, p) in secrets.patterns.iter().enumerate() {
                let mut q = p.step(self.states[k], b);
                if q == p.bytes.len() {
                    self.cover(end - q as u64, end);
                    q = p.fail[q - 1];
                }
                self.states[k] = q;
            }
        }
        // A secret can only begin within the longest tail that is a proper prefix of one.
        let hold = self.states.iter().copied().max().unwrap_or(0);
        let upto = self.emitted + (self.pending.len() - hold) as u64;
        self.emit(upto)
    }

    /// The end of the stream: whatever was held back.
    pub fn finish(&mut self) -> Vec<u8> {
        self.states.iter_mut().for_each(|s| *s = 0);
        let upto = self.emitted + self.pending.len() as u64;
        let out = self.emit(upto);
        self.in_mask = false;
        out
    }

    fn cover(&mut self, mut start: u64, end: u64) {
        // Ranges arrive in order of their ends, so only the last ones can overlap this one.
        while let Some(&(s, e)) = self.covered.last() {
            if e < start {
                break;
            }
            start = start.min(s);
            self.covered.pop();
        }
        self.covered.push((start, end));
    }

    fn emit(&mut self, upto: u64) -> Vec<u8> {
        let base = self.emitted;
        let mut out = Vec::with_capacity((upto - base) as usize);
        let mut pos = base;
        let mut kept = Vec::new();
        for &(s, e) in &self.covered {
            if s >= upto {
                kept.push((s, e));
                continue;
            }
            let s = s.max(pos);
            if s > pos {
                out.extend_from_slice(&self.pending[(pos - base) as usize..(s - base) as usize]);
                self.in_mask = false;
            }
            if !self.in_mask {
                out.extend_from_slice(MASK.as_bytes());
                self.in_mask = true;
            }
            pos = e.min(upto);
            if e > upto {
                kept.push((upto, e));
            }
        }
        if upto > pos {
            out.extend_from_slice(&self.pending[(pos - base) as usize..(upto - base) as usize]);
            self.in_mask = false;
        }
        self.covered = kept;
        self.pending.drain(..(upto - base) as usize);
        self.emitted = upto;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_in_pieces(secrets: &[&str], text: &str, cuts: &[usize]) -> String {
        let s = Secrets::new(secrets.iter().map(|s| s.to_string()));
        let mut m = Masker::new(s);
        let mut out = Vec::new();
        let mut from = 0;
        for &c in cuts.iter().chain([text.len()].iter()) {
            out.extend(m.feed(&text.as_bytes()[from..c]));
            from = c;
        }
        out.extend(m.finish());
        String::from_utf8(out).unwrap()
    }

    /// The same result for the text fed whole, byte by byte, and split at every boundary.
    fn masked(secrets: &[&str], text: &str) -> String {
        let whole = masked_in_pieces(secrets, text, &[]);
        let bytewise: Vec<usize> = (1..text.len()).collect();
        assert_eq!(masked_in_pieces(secrets, text, &bytewise), whole, "byte by byte");
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(masked_in_pieces(secrets, text, &[a, b]), whole, "cut at {a} and {b}");
            }
        }
        whole
    }

    #[test]
    fn a_secret_is_masked_wherever_the_stream_is_cut() {
        assert_eq!(masked(&["s3cr3t"], "pw=s3cr3t; again s3cr3t\n"), "pw=******; again ******\n");
        assert_eq!(masked(&["s3cr3t"], "s3cr3s3cr3t s3cr3"), "s3cr3****** s3cr3");
    }

    #[test]
    fn a_multi_line_secret_is_masked_whole_and_line_by_line() {
        let key = "-----BEGIN-----\nline-two\r\nEND";
        assert_eq!(masked(&[key], "key:\n-----BEGIN-----\nline-two\r\nEND\nok"), "key:\n******\nok");
        assert_eq!(masked(&[key], "only line-two here\n"), "only ****** here\n");
    }

    #[test]
    fn secrets_that_prefix_or_overlap_others_leak_no_tail() {
        assert_eq!(masked(&["abc", "abcdef"], "xabcdefx abcx"), "x******x ******x");
        assert_eq!(masked(&["abcd", "cdef"], "abcdef"), "******");
        assert_eq!(masked(&["aaa"], "aaaaa b"), "****** b");
    }

    #[test]
    fn a_secret_is_masked_as_a_shell_quotes_it_and_as_json_escapes_it() {
        let pw = r#"it's "a\b""#;
        assert_eq!(masked(&[pw], "+ mysql '-pit'\\''s \"a\\b\"'\n"), "+ mysql '-p******'\n");
        assert_eq!(masked(&[pw], r#"{"password":"it's \"a\\b\""}"#), r#"{"password":"******"}"#);
        // bash's `set -x` writes a multi-line value across lines, quotes escaped.
        assert_eq!(masked(&["line-one\nline's-two"], "+ : 'line-one\nline'\\''s-two'\n"), "+ : '******'\n");
        assert_eq!(masked(&["line-one\nline's-two"], "only line'\\''s-two\n"), "only ******\n");
    }

    #[test]
    fn short_values_and_no_secrets_pass_through() {
        assert_eq!(masked(&["ab"], "ab abc"), "ab abc");
        assert_eq!(masked(&[], "anything"), "anything");
    }

    #[test]
    fn output_flows_except_a_possible_start_of_a_secret() {
        let mut m = Masker::new(Secrets::new(["s3cr3t".to_string()]));
        assert_eq!(m.feed(b"line\nnext s3c"), b"line\nnext ");
        assert_eq!(m.feed(b"ret"), b"s3cret");
        assert_eq!(m.feed(b" s3"), b" ");
        assert_eq!(m.finish(), b"s3");
    }
}
