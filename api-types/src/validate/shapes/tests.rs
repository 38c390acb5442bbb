//! Each character check against the regular expression it replaces, on generated inputs:
//! exhaustive short strings, every character in each position that matters, lengths
//! around each bound, mutations of valid values and random strings.

use regex::Regex;

use super::super::patterns;
use super::*;

/// What `param_value` checked a `datetime` argument with before [`datetime`].
const DATETIME: &str = r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$";

/// Characters each rule turns on: the ASCII classes and their neighbours, the separators,
/// whitespace and control characters, non-ASCII letters and digits (`\d` is Unicode),
/// an astral digit and an emoji.
const ALPHABET: &[char] = &[
    'a',
    'f',
    'g',
    'l',
    'o',
    'c',
    'T',
    'Z',
    '0',
    '1',
    '9',
    '_',
    '-',
    '.',
    '@',
    ':',
    '[',
    ']',
    '+',
    ' ',
    '\n',
    '\0',
    'é',
    '\u{663}',
    '\u{ff10}',
    '\u{1d7ce}',
    '😀',
];

type Check = fn(&str) -> bool;

struct Rule {
    name: &'static str,
    regex: Regex,
    check: Check,
    accepted: usize,
    refused: usize,
}

struct Rules(Vec<Rule>);

impl Rules {
    fn new() -> Self {
        let rules: [(&'static str, &str, Check); 6] = [
            ("USERNAME", patterns::USERNAME, username),
            ("PARAM_KEY", patterns::PARAM_KEY, param_key),
            ("GROUP", patterns::GROUP, group),
            ("HOST_ENTRY", patterns::HOST_ENTRY, host_entry),
            ("HOST_ADDRESS", patterns::HOST_ADDRESS, host_address),
            ("DATETIME", DATETIME, datetime),
        ];
        Rules(
            rules
                .into_iter()
                .map(|(name, pattern, check)| Rule {
                    name,
                    regex: Regex::new(pattern).unwrap(),
                    check,
                    accepted: 0,
                    refused: 0,
                })
                .collect(),
        )
    }

    fn agree(&mut self, input: &str) {
        for rule in &mut self.0 {
            let matched = rule.regex.is_match(input);
            assert_eq!((rule.check)(input), matched, "{} and its pattern disagree on {input:?}", rule.name);
            *if matched { &mut rule.accepted } else { &mut rule.refused } += 1;
        }
    }

    /// Each rule has seen inputs on both sides, so no agreement above was vacuous.
    fn saw_both_sides(&self, at_least: usize) {
        for rule in &self.0 {
            let (name, accepted, refused) = (rule.name, rule.accepted, rule.refused);
            assert!(accepted >= at_least && refused >= at_least, "{name} accepted {accepted} and refused {refused}");
        }
    }
}

/// splitmix64: reproducible inputs without a dependency.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

#[test]
fn every_string_of_up_to_four_interesting_characters() {
    let mut rules = Rules::new();
    let mut last = vec![String::new()];
    rules.agree("");
    for _ in 0..4 {
        last = last.iter().flat_map(|s| ALPHABET.iter().map(move |c| format!("{s}{c}"))).collect();
        last.iter().for_each(|s| rules.agree(s));
    }
    rules.0.retain(|r| r.name != "DATETIME"); // no date is this short
    rules.saw_both_sides(20);
}

#[test]
fn every_character_in_each_position_that_matters() {
    let mut rules = Rules::new();
    let holes = [
        "{}",
        "a{}",
        "{}a",
        "a{}b",
        "{}@h",
        "u@{}",
        "u{}@h",
        "u@h{}",
        "[{}]",
        "[1{}:]",
        "{}[1]",
        "[1]{}",
        "1{}",
        "{}0",
        "9{}9",
        "l{}cal",
        "local{}",
        "{}local",
        "{}026-01-31",
        "2026{}01-31",
        "2026-01-3{}",
        "2026-01-31{}",
        "2026-01-31{}10:00",
        "2026-01-31T{}0:00",
        "2026-01-31 10{}00",
        "2026-01-31 10:00:0{}",
        "2026-01-31 10:00:00{}5",
        "2026-01-31 10:00:00.{}",
        "2026-01-31 10:00{}",
        "2026-01-31 10:00{}05:00",
        "2026-01-31 10:00+05{}00",
    ];
    let mut chars: Vec<char> = ('\0'..='\u{3ff}').chain('\u{2000}'..='\u{206f}').collect();
    chars.extend(ALPHABET);
    chars.extend(['\u{3000}', '\u{feff}', '\u{ff21}', '\u{ff41}', '\u{10ffff}']);
    // Around every run of decimal digits: its zero, its nine and both neighbours.
    for zero in DIGIT_ZEROS {
        chars.extend([zero - 1, *zero, zero + 9, zero + 10].into_iter().filter_map(char::from_u32));
    }
    for c in chars {
        for hole in holes {
            rules.agree(&hole.replace("{}", c.encode_utf8(&mut [0; 4])));
        }
    }
    rules.saw_both_sides(3);
}

#[test]
fn lengths_around_each_bound() {
    let mut rules = Rules::new();
    for n in 0..=300 {
        for fill in ["a", "Z", "0", "9", "_", ".", ":", "-", "@", "[", "é", "\u{663}"] {
            let run = fill.repeat(n);
            for s in [
                run.clone(),
                format!("a{run}"),
                format!("_{run}"),
                format!("1{run}"),
                format!("{run}@h"),
                format!("u@{run}"),
                format!("[{run}]"),
                format!("2026-01-31 10:00:00.{run}"),
                format!("{run}-1-1"),
            ] {
                rules.agree(&s);
            }
        }
    }
    rules.saw_both_sides(10);
}

/// Values each rule accepts.
const VALID: &[&str] = &[
    "admin",
    "a.b@c-d_e",
    "VERSION",
    "_x1",
    "local",
    "999",
    "root@10.0.0.1",
    "deploy@[fe80::1]",
    "web-1.example.com:2222",
    "2026-01-31",
    "2026-1-3T4:05",
    "2026-01-31 18:00:00",
    "2026-01-31T18:00:00.123Z",
    "2026-01-31 18:00:00+05:30",
    "2026-01-31 18:00-0800",
    "\u{663}\u{663}\u{663}\u{663}-\u{ff11}-\u{1d7ce} \u{663}:\u{663}\u{663}",
];

/// Valid values of each rule, each changed by one deletion, insertion or substitution
/// of an alphabet character at every position.
#[test]
fn every_one_character_change_of_valid_values() {
    let mut rules = Rules::new();
    for v in VALID {
        let chars: Vec<char> = v.chars().collect();
        rules.agree(v);
        for i in 0..=chars.len() {
            if i < chars.len() {
                rules.agree(&[&chars[..i], &chars[i + 1..]].concat().into_iter().collect::<String>());
            }
            for c in ALPHABET {
                rules.agree(&[&chars[..i], &[*c], &chars[i..]].concat().into_iter().collect::<String>());
                if i < chars.len() {
                    rules.agree(&[&chars[..i], &[*c], &chars[i + 1..]].concat().into_iter().collect::<String>());
                }
            }
        }
    }
    rules.saw_both_sides(5);
}

/// Random strings: from the alphabet, date-like ones built of runs of digits (ASCII and
/// not) between the separators the datetime rule reads, and valid values changed in one
/// to three places.
#[test]
fn random_strings() {
    let mut rules = Rules::new();
    let mut random = Random(2026);
    let digits = ['0', '1', '9', '\u{663}', '\u{ff10}', '\u{1d7ce}'];
    let separators = ["-", "-", ":", ":", " ", "T", "Z", "+", ".", "t", "\n", "a", ""];
    for _ in 0..200_000 {
        let len = random.below(17);
        let s: String = (0..len).map(|_| random.pick(ALPHABET)).collect();
        rules.agree(&s);
        let mut s = String::new();
        for _ in 0..1 + random.below(8) {
            for _ in 0..random.below(6) {
                s.push(random.pick(&digits));
            }
            s.push_str(random.pick(&separators));
        }
        rules.agree(&s);
        let mut s: Vec<char> = random.pick(VALID).chars().collect();
        for _ in 0..1 + random.below(3) {
            let i = random.below(s.len() + 1);
            let c = if random.below(2) == 0 { random.pick(ALPHABET) } else { random.pick(&digits) };
            match random.below(3) {
                0 if i < s.len() => drop(s.remove(i)),
                1 if i < s.len() => s[i] = c,
                _ => s.insert(i, c),
            }
        }
        rules.agree(&s.into_iter().collect::<String>());
    }
    rules.saw_both_sides(100);
}

#[test]
fn decimal_digits_are_those_of_the_regex_crate() {
    let digit = Regex::new(r"^\d$").unwrap();
    for c in (0..=0x10ffff).filter_map(char::from_u32) {
        assert_eq!(is_decimal_digit(c), digit.is_match(c.encode_utf8(&mut [0; 4])), "{c:?} U+{:04X}", u32::from(c));
    }
}
