use super::*;

/// `@N` marks placeholder N (one digit) in these tests; `§N` is what is scanned.
fn contexts(text: &str) -> Vec<Result<Quoting, String>> {
    let text = text.replace('@', "§");
    let marker = |rest: &str| {
        let digit = rest.strip_prefix('§')?.bytes().next().filter(u8::is_ascii_digit)?;
        Some(('§'.len_utf8() + 1, usize::from(digit - b'0')))
    };
    scan(&text, &marker).into_iter().map(|s| s.quoting.map_err(|m| m.text())).collect()
}

fn ok(q: Quoting) -> Result<Quoting, String> {
    Ok(q)
}

#[test]
fn plain_quotes_and_substitutions_are_followed() {
    use Quoting::*;
    assert_eq!(contexts("echo @0 \"@1\" '@2'"), vec![ok(Unquoted), ok(Double), ok(Single)]);
    assert_eq!(contexts("echo \"a $(echo @0 \"@1\") b @2\""), vec![ok(Unquoted), ok(Double), ok(Double)]);
    assert_eq!(contexts("echo \"it's\" @0 'say \"hi\"' @1"), vec![ok(Unquoted), ok(Unquoted)]);
    assert_eq!(contexts("echo a\\\"b @0; echo \"x\\\"@1\""), vec![ok(Unquoted), ok(Double)]);
    assert_eq!(contexts("x=$(ls (a) @0) @1"), vec![ok(Unquoted), ok(Unquoted)]);
    assert_eq!(contexts("echo $x#y @0"), vec![ok(Unquoted)], "# inside a word is no comment");
    assert_eq!(contexts("echo \\\n#x @0"), vec![Err("it is inside a comment".into())]);
}

#[test]
fn unsafe_places_are_refused() {
    for text in [
        "# @0",
        "echo a # @0",
        "echo `@0`",
        "echo $'@0'",
        "echo ${X:-@0}",
        "echo \"${X:-@0}\"",
        "echo $((@0 + 1))",
        "((x = @0))",
        "echo \\@0",
        "echo \"\\@0\"",
        "echo $@0",
        "echo \"$@0\"",
        "cat <<EOF\n@0\nEOF",
        "cat <<'EOF'\n@0\nEOF",
        "cat <<@0\nx\n",
        "echo $\"@0\"",
    ] {
        let got = contexts(text);
        assert_eq!(got.len(), 1, "{text:?}");
        assert!(got[0].is_err(), "{text:?} gave {got:?}");
    }
}

#[test]
fn here_documents_end_at_their_delimiter() {
    use Quoting::*;
    let got = contexts("cat <<-EOF; echo @0\n\tbody ' \"\n\tEOF\necho @1 '@2'");
    assert_eq!(got, vec![ok(Unquoted), ok(Unquoted), ok(Single)]);
    let got = contexts("cat <<A <<\"B\"\n'\nA\n\"\nB\necho @0");
    assert_eq!(got, vec![ok(Unquoted)]);
    assert_eq!(contexts("cat <<<@0"), vec![ok(Unquoted)], "a here-string is a word");
}

#[test]
fn where_shells_disagree_every_later_placeholder_is_refused() {
    for text in [
        "echo $'it\\'s' @0",
        "x=$(case a in a) echo;; esac) @0",
        "echo \"${x#'}'}\" @0",
        "echo `echo \"a\"` @0",
        "echo $[1] @0",
    ] {
        let got = contexts(text);
        assert!(got.iter().all(Result::is_err) && !got.is_empty(), "{text:?} gave {got:?}");
    }
    assert_eq!(contexts("echo $'no escapes' @0"), vec![Ok(Quoting::Unquoted)]);
}

#[test]
fn escaping_keeps_every_byte() {
    assert_eq!(Quoting::Unquoted.escape("it's"), r"'it'\''s'");
    assert_eq!(Quoting::Unquoted.escape(""), "''");
    assert_eq!(Quoting::Double.escape("a\"$b`\\"), r#"a\"\$b\`\\"#);
    assert_eq!(Quoting::Single.escape("'"), r"'\''");
}
