use std::io::Write;
use std::process::{Command, Stdio};

use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn render_args(body: &str, args: &[(&str, &str)], raw: bool) -> Result<String, String> {
    let (args, builtins) = (map(args), map(&[]));
    render(body, &Vars { args: &args, builtins: &builtins, raw }, "bash")
}

/// Values an attacker would send: quotes of every kind, substitutions, escapes, newlines,
/// globs, options, unicode, nothing at all.
const HOSTILE: &[&str] = &[
    "\"",
    "'",
    "$(id)",
    "`id`",
    "\\",
    "a\\",
    "\\\n",
    "line one\nline two",
    "$'\\x41'",
    "'\"'\"'",
    "!",
    "!!",
    "${x:-y}",
    "$HOME",
    "*",
    "~",
    "-n",
    "a b  c\t",
    "日本語 ünï ☃",
    "",
    "\"; touch /tmp/taskgate-pwned; \"",
    "'; touch /tmp/taskgate-pwned; '",
];

/// The shells the escaping is proved against; each must be installed (scripts/test.sh does).
fn shells() -> Vec<Vec<&'static str>> {
    let list = vec![vec!["dash"], vec!["bash"], vec!["busybox", "sh"], vec!["zsh"], vec!["mksh"]];
    for sh in &list {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {}", sh[0])).output().unwrap();
        assert!(
            found.status.success(),
            "{} is needed for the quoting tests: `bash scripts/test.sh` installs it (apt-get install busybox zsh mksh)",
            sh[0]
        );
    }
    list
}

fn run_in(shell: &[&str], script: &str) -> Vec<u8> {
    let out = Command::new(shell[0]).args(&shell[1..]).arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{shell:?} failed on {script:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn hostile_values_arrive_byte_exact_in_every_shell_and_every_quoting() {
    let bodies = [
        ("printf '[%s]' {{ V }}", "", ""),
        ("printf '[%s]' \"pre{{ V }}post\"", "pre", "post"),
        ("printf '[%s]' 'pre{{ V }}post'", "pre", "post"),
        // `$(…)` drops trailing newlines: the `.` keeps them.
        ("printf '[%s]' \"$(printf '%s.' {{ V }})\"", "", "."),
        ("x=\"a $(printf '%s.' \"{{ V }}\") b\"; printf '[%s]' \"${x#a }\"", "", ". b"),
        ("printf '[%s]' pre{{ V }}post", "pre", "post"),
        // What comes before a placeholder and decides its context.
        ("cat <<'E' >/dev/null\n' \" $(\nE\nprintf '[%s]' {{ V }}", "", ""),
        ("cat <<-E >/dev/null\n\t'\n\tE\nprintf '[%s]' \"{{ V }}\"", "", ""),
        ("x=1 # it's \"\nprintf '[%s]' \"{{ V }}\"", "", ""),
        (": $((1 + (2))) ${y:-\"}'\"} \\\n; printf '[%s]' '{{ V }}'", "", ""),
        ("case a in a) printf '[%s]' {{ V }};; esac", "", ""),
        (": $'no escapes \"' `true` \"$(: \")\")\"; printf '[%s]' \"{{ V }}\"", "", ""),
    ];
    for shell in shells() {
        for (body, before, after) in bodies {
            for value in HOSTILE {
                let script = render_args(body, &[("V", value)], false).unwrap();
                let got = run_in(&shell, &script);
                let want = format!("[{before}{value}{after}]");
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    want,
                    "{shell:?}, body {body:?}, value {value:?}, script {script:?}"
                );
            }
        }
    }
    assert!(!std::path::Path::new("/tmp/taskgate-pwned").exists());
}

/// Bodies an admin might write, each with a placeholder somewhere tricky: either the
/// body is refused, or no shell runs any part of a hostile value.
#[test]
fn no_accepted_body_lets_a_value_run_in_any_shell() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ran");
    let f = flag.display();
    let values = [
        format!("$(touch {f})"),
        format!("`touch {f}`"),
        format!("\";touch {f};\""),
        format!("';touch {f};'"),
        format!("\\\";touch {f};#"),
        format!("x\ntouch {f}\n"),
        format!("${{x:-$(touch {f})}}"),
        format!(")\ntouch {f} #"),
    ];
    let bodies = [
        "echo {{ V }} # comment",
        "echo \"a\" # \"{{ V }}\"",
        "echo a#{{ V }}",
        "x=$(echo \")\"; echo {{ V }}); echo \"$x\"",
        "echo $(echo '(' {{ V }})",
        "echo ${#}{{ V }} $#{{ V }} $${{ V }}",
        "echo {{ V }}\\\n{{ V }}",
        "f() { echo {{ V }}; }; f",
        "cat <<EOF | tr a b\nbody {{ V }}\nEOF\necho {{ V }}",
        "cat <<\"EOF\"\n' \"\nEOF\necho \"{{ V }}\"",
        "echo 'it''s' {{ V }}",
        "echo \"$(( 1 + 2 ))\" {{ V }} $((1 + $(echo 2))) \"{{ V }}\"",
        "echo \"a\\\nb {{ V }}\"",
        "echo ${V:-\"$(echo \")\")\"} {{ V }}",
        "echo $( # comment with )\n echo {{ V }} )",
        "x=$(cat <<EOF\n)\nEOF\n); echo \"{{ V }}\"",
        "case a in (a) echo {{ V }};; esac; echo \"$(case a in a) echo;; esac)\" {{ V }}",
        "echo {{ V }}>/dev/null; echo \"{{ V }}\" '{{ V }}'",
        "echo \"`echo \\\"{{ V }}\\\"`\"",
        "echo $'\\'' {{ V }} '",
        "echo \"${x#'}'\"}\" \"{{ V }}\"",
        "echo ${x:-'{{ V }}'}",
        "echo \"${x:-\"{{ V }}\"}\"",
        "(( x = 1 )); echo {{ V }}",
        "echo $[1] {{ V }}",
        "echo <(echo {{ V }})",
    ];
    let mut accepted = 0;
    for body in bodies {
        if render_args(body, &[("V", "x")], false).is_ok() {
            accepted += 1;
        }
        for value in &values {
            let Ok(script) = render_args(body, &[("V", value)], false) else { continue };
            for shell in [vec!["dash"], vec!["bash"], vec!["busybox", "sh"]] {
                let _ =
                    Command::new(shell[0]).args(&shell[1..]).arg("-c").arg(&script).current_dir(dir.path()).output();
                assert!(!flag.exists(), "{shell:?} ran part of the value: body {body:?}, script {script:?}");
            }
        }
    }
    assert!(accepted >= 15, "most of these bodies are ordinary shell: {accepted} accepted");
}

/// Bodies where the lexer and a shell read the quoting differently (found by attacking
/// the saved-body check): bash reads `x[…]`, extglob `@(…)` and a `=~` expression's
/// `(…)` as one word, where `#` starts no comment; dash and busybox sh read `((` as two
/// subshells, where `#` does start one and `<<` opens a here-document; and an alias,
/// expanded by dash, busybox sh and bash --posix, rewrites the lines that use it. Each
/// placed a value's `$(…)` outside quotes. Now each is refused when saved.
#[test]
fn bodies_that_shells_read_differently_are_refused_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ran");
    let value = format!("$(touch {})", flag.display());
    let bodies = [
        "(( 1 # $( '\necho {{ V }}; ( : #'\n) ))",
        "(( 1 <<E ))\necho '\nE\necho {{ V }}\n'",
        "alias q='echo \"'\nq {{ V }}\"\n# \"",
        "shopt -s extglob\necho @( #' )\necho {{ V }}\n' )",
        "[[ x == @( #'\necho {{ V }}\n' ) ]]",
        "[[ x =~ ( #'\necho {{ V }}\n') ]]",
        "x[ #'\necho {{ V }}\n']=1",
        "x[\n#'\necho {{ V }}\n']=1",
    ];
    // bash skips the rest of the line after a syntax error inside an array assignment,
    // and goes on with the next: the second line of a value placed after the error.
    let multi_line = format!("x\ntouch {}\n", flag.display());
    for body in ["x=(x=({{ V }})", "x=(a (b) {{ V }})", "x=( ; {{ V }})", "x=( | {{ V }})", "x=(<<E {{ V }})"] {
        assert!(check_body(body, "bash", false, &[]).is_err(), "accepted: {body:?}");
        let Ok(script) = render_args(body, &[("V", &multi_line)], false) else { continue };
        let _ = Command::new("bash").arg("-c").arg(&script).current_dir(dir.path()).output();
        assert!(!flag.exists(), "bash ran the value's second line: body {body:?}");
    }
    for body in bodies {
        assert!(check_body(body, "sh", false, &[]).is_err(), "accepted: {body:?}");
        let Ok(script) = render_args(body, &[("V", &value)], false) else { continue };
        for shell in [vec!["dash"], vec!["bash"], vec!["busybox", "sh"], vec!["bash", "--posix"]] {
            let _ = Command::new(shell[0]).args(&shell[1..]).arg("-c").arg(&script).current_dir(dir.path()).output();
            assert!(!flag.exists(), "{shell:?} ran the value: body {body:?}, script {script:?}");
        }
    }
    // What these rules must not refuse: words whose brackets close, arrays, functions,
    // comments with quotes in them.
    for body in [
        "x=(a b) # it's\necho {{ V }}",
        "x=(\n  a # one\n  \"$(echo b)\"\n)\necho {{ V }}",
        "arr[0]=1; echo {{ V }} # don't",
        "f() { echo; }\necho {{ V }}",
        "[[ -f x ]] && echo {{ V }}",
        "case $x in *[0-9]*) echo {{ V }};; esac",
        "[[ $x == @(a|b) ]] && echo {{ V }}",
        "ls file[0-9].txt\necho \"{{ V }}\"",
    ] {
        assert!(check_body(body, "sh", false, &[]).is_ok(), "refused: {body:?}");
    }
}

#[test]
fn placeholders_are_escaped_for_their_context() {
    let v = [("TAG", "v1; rm -rf / 'x'")];
    assert_eq!(render_args("deploy {{ TAG }}", &v, false).unwrap(), r"deploy 'v1; rm -rf / '\''x'\'''");
    assert_eq!(
        render_args("echo \"{{ TAG }}\"", &[("TAG", "$(id) `id` \"")], false).unwrap(),
        r#"echo "\$(id) \`id\` \"""#
    );
    assert_eq!(render_args("echo 'a{{ TAG }}'", &v, false).unwrap(), r"echo 'av1; rm -rf / '\''x'\'''");
    assert_eq!(render_args("deploy {{ TAG | upper }}", &[("TAG", "a'b")], false).unwrap(), r"deploy 'A'\''B'");
}

#[test]
fn placeholders_where_no_escaping_is_safe_are_refused_by_name() {
    for body in [
        "# deploy {{ TAG }}",
        "echo `echo {{ TAG }}`",
        "echo $'{{ TAG }}'",
        "echo ${X:-{{ TAG }}}",
        "echo $(( {{ TAG }} + 1 ))",
        "cat <<EOF\n{{ TAG }}\nEOF",
        "echo \\{{ TAG }}",
        "echo ${{ TAG }}",
    ] {
        let e = render_args(body, &[("TAG", "v1")], false).unwrap_err();
        assert!(e.contains("`{{ TAG }}` on line"), "{body:?}: {e}");
    }
}

#[test]
fn raw_mode_inserts_arguments_as_given_but_always_escapes_builtins() {
    let args = map(&[("TAG", "v1 --force")]);
    let builtins = map(&[("TASK_NAME", "x; touch /tmp/taskgate-pwned-raw"), ("HOST", "web-1")]);
    let vars = Vars { args: &args, builtins: &builtins, raw: true };
    let script = render("deploy {{ TAG }} # {{ TAG }}\necho {{ TASK_NAME }} on {{ HOST }}", &vars, "bash").unwrap();
    assert_eq!(script, "deploy v1 --force # v1 --force\necho 'x; touch /tmp/taskgate-pwned-raw' on 'web-1'");
    // A raw argument changes the context of what follows, and the builtin is escaped for it.
    let args = map(&[("OPEN", "\"")]);
    let vars = Vars { args: &args, builtins: &builtins, raw: true };
    let script = render("echo {{ OPEN }}{{ TASK_NAME }}\"", &vars, "bash").unwrap();
    assert_eq!(run_in(&["bash"], &script), b"x; touch /tmp/taskgate-pwned-raw\n");
    let args = map(&[("HASH", "#")]);
    let vars = Vars { args: &args, builtins: &builtins, raw: true };
    assert!(render("echo {{ HASH }}{{ TASK_NAME }}", &vars, "bash").unwrap_err().contains("comment"));
    // Filters keep an argument raw and a builtin escaped; joining them makes a plain value.
    let vars = Vars { args: &map(&[("TAG", "a b")]), builtins: &builtins, raw: true };
    assert_eq!(render("x {{ TAG | upper }} {{ HOST | upper }}", &vars, "bash").unwrap(), "x A B 'WEB-1'");
    assert_eq!(render("x {{ TAG ~ HOST }}", &vars, "bash").unwrap(), "x 'a bweb-1'");
}

#[test]
fn other_interpreters_get_no_placeholder_output() {
    let e =
        render("print('{{ TAG }}')", &Vars { args: &map(&[("TAG", "x")]), builtins: &map(&[]), raw: false }, "python3")
            .unwrap_err();
    assert!(e.contains("python3") && e.contains("`{{ TAG }}`") && e.contains("environment"), "{e}");
    let plain = Vars { args: &map(&[("DRY", "1")]), builtins: &map(&[]), raw: false };
    assert_eq!(render("{% if DRY %}dry = True{% endif %}", &plain, "/usr/bin/python3").unwrap(), "dry = True");
    let raw = Vars { args: &map(&[("N", "3")]), builtins: &map(&[("TASK_NAME", "t")]), raw: true };
    assert_eq!(render("n = {{ N }}", &raw, "python3").unwrap(), "n = 3");
    assert!(render("n = '{{ TASK_NAME }}'", &raw, "python3").is_err());
}

#[test]
fn output_built_from_other_placeholders_is_refused() {
    let args = [("TAG", "v1")];
    assert!(render_args("{% filter upper %}echo {{ TAG }}{% endfilter %}", &args, false)
        .unwrap_err()
        .contains("filter block"));
    assert!(render_args("{% macro m(x) %}echo {{ x }}{% endmacro %}{{ m(TAG) }}", &args, false).is_err());
    assert!(render_args("{% filter upper %}echo done{% endfilter %}", &args, false).is_ok());
}

#[test]
fn an_undefined_placeholder_or_a_nul_is_an_error() {
    assert!(render_args("rm -rf /{{ DIR }}", &[], false).unwrap_err().contains("undefined"));
    assert!(render_args("echo {{ V }}", &[("V", "a\0b")], false).unwrap_err().contains("NUL"));
}

#[test]
fn saving_checks_both_sides_of_a_condition_and_the_builtins() {
    let builtins = ["TASK_NAME", "HOST"];
    assert!(check_body("echo {{ V }} {{ HOST }}", "bash", false, &builtins).is_ok());
    assert!(check_body("{% if V %}echo {{ V }}{% else %}# {{ V }}{% endif %}", "bash", false, &builtins)
        .unwrap_err()
        .text()
        .contains("comment"));
    assert!(check_body("# {{ V }}", "bash", true, &builtins).is_ok(), "raw arguments are the author's choice");
    assert!(check_body("# {{ TASK_NAME }}", "bash", true, &builtins).is_err());
    assert!(check_body("x = {{ V }}", "python3", false, &builtins).is_err());
    assert!(check_body("echo {{ A.b.c }}", "bash", false, &builtins).is_ok(), "lenient about undefined names");
}

fn run_program(program: &str) -> std::process::Output {
    let mut child = Command::new("/bin/sh")
        .arg("-s")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(program.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_program_runs_the_script_with_its_variables_and_reports_its_group() {
    let env = vec![("TAG".to_string(), "a'b\nc $(id)".to_string())];
    let script = "printf '%s|' \"$TAG\" \"it's\" \"$0\"; cat; echo end";
    for interpreter in ["bash", "dash", "sh"] {
        let out = run_program(&program(interpreter, script, &env, Some("n0nce")));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a'b\nc $(id)|it's|/dev/fd/3|end\n", "{interpreter}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            parse_group(err.lines().next().unwrap(), "n0nce").is_some_and(|g| g.boot.is_some() && g.start.is_some()),
            "{err:?}"
        );
    }
}

/// Each shell a host may have as `/bin/sh`, under a parent that leads its group (as a
/// wrapper that forks would): the report names that group (not the shell's own pid),
/// this boot, and the leader's start time.
#[test]
fn every_shell_reports_its_group_its_boot_and_its_start() {
    use std::os::unix::process::CommandExt;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_string();
    let mut shells = vec![vec!["dash"], vec!["bash", "--posix"]];
    if Command::new("busybox").arg("true").status().is_ok_and(|s| s.success()) {
        shells.push(vec!["busybox", "sh"]);
    }
    for shell in shells {
        let script = "cat /proc/$PPID/stat >/dev/null; sleep 0.2";
        // The leader runs the shell under test as its child, then waits.
        let inner = shell.join(" ");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{inner} -s; :"))
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let start: i64 = stat.rsplit_once(") ").unwrap().1.split_whitespace().nth(19).unwrap().parse().unwrap();
        child.stdin.take().unwrap().write_all(program("sh", script, &[], Some("abc123")).as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let group =
            parse_group(err.lines().next().unwrap_or(""), "abc123").unwrap_or_else(|| panic!("{shell:?}: {err:?}"));
        assert_eq!(group.pgid, i64::from(pid), "{shell:?}");
        assert_eq!(group.boot.as_deref(), Some(boot.as_str()), "{shell:?}");
        assert_eq!(group.start, Some(start), "{shell:?}");
    }
}

#[test]
fn only_a_report_with_the_programs_nonce_and_a_real_group_counts() {
    let line = format!("{PGID_MARKER}n1 4242 b00t 77");
    assert_eq!(parse_group(&line, "n1").map(|g| g.pgid), Some(4242));
    assert!(parse_group(&line, "n2").is_none(), "a report printed by someone else");
    for pgid in ["1", "0", "-5", "x"] {
        assert!(parse_group(&format!("{PGID_MARKER}n1 {pgid} - -"), "n1").is_none(), "{pgid}");
    }
}

#[test]
fn a_script_that_holds_the_delimiter_pattern_still_runs_whole() {
    let script = "cat <<'TASKGATE_SCRIPT_END_0'\nTASKGATE_SCRIPT_END_0\necho after";
    let out = run_program(&program("sh", script, &[], None));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "after\n");
}

#[test]
fn a_program_cut_short_runs_nothing() {
    let p = program("sh", "echo first\necho second", &[("K".into(), "v".into())], None);
    for cut in [p.len() / 3, p.len() / 2, p.len() - 3] {
        let out = run_program(&p[..cut]);
        assert!(out.stdout.is_empty(), "cut at {cut}: {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(!out.status.success());
    }
}

#[test]
fn filters_that_make_any_value_safe_are_gone_so_built_ins_stay_escaped() {
    for body in [
        "echo {{ TASK_NAME | safe }}",
        "echo {{ TASK_NAME | e }}",
        "echo {{ TASK_NAME | escape }}",
        "echo {{ TASK_NAME | tojson }}",
    ] {
        let builtins = map(&[("TASK_NAME", "x; touch /tmp/pwned")]);
        let vars = Vars { args: &map(&[]), builtins: &builtins, raw: true };
        let e = render(body, &vars, "bash").unwrap_err();
        assert!(e.contains("unknown filter"), "{body}: {e}");
        assert!(check_body(body, "bash", true, &["TASK_NAME"]).is_err(), "{body} is refused when saved");
    }
}
