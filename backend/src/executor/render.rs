//! Turning a step into a command line: the body rendered with minijinja (values
//! shell-quoted unless the template opts out), arguments also passed as environment
//! variables, and a wrapper that reports the process group so that abort can kill it.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};

/// `'…'` with embedded quotes closed, escaped and reopened: safe in any POSIX shell.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Renders `body` with `vars`. Placeholder output is shell-quoted unless `raw`.
pub fn render(body: &str, vars: &BTreeMap<String, String>, raw: bool) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if !raw {
        env.set_formatter(|out, _state, value| {
            let text = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            out.write_str(&shell_quote(&text)).map_err(minijinja::Error::from)
        });
    }
    let template = env.template_from_str(body).map_err(|e| format!("template error: {e}"))?;
    template.render(vars).map_err(|e| format!("cannot render the step: {e}"))
}

/// Marker the wrapper writes first on stderr, followed by its process group id.
pub const PGID_MARKER: &str = "\u{1e}taskgate-pgid ";

/// The command line for `sshd`: runs `script` with `interpreter -c`, the environment
/// set, in the session's process group, after printing that group's id on stderr.
/// (sshd starts each command in a new session, so `$$` is the group leader.)
pub fn remote_command(interpreter: &str, script: &str, env: &[(String, String)]) -> String {
    let wrapper = format!(
        r#"printf '{marker}%s\n' "$$" >&2; i="$1"; s="$2"; shift 2; exec env "$@" "$i" -c "$s""#,
        marker = PGID_MARKER.replace('\u{1e}', "\\036")
    );
    let mut cmd = format!(
        "exec /bin/sh -c {} taskgate {} {}",
        shell_quote(&wrapper),
        shell_quote(interpreter),
        shell_quote(script)
    );
    for (k, v) in env {
        cmd.push(' ');
        cmd.push_str(&shell_quote(&format!("{k}={v}")));
    }
    cmd
}

/// Parses the process group id from a marker line, if this is one.
pub fn parse_pgid(line: &str) -> Option<i64> {
    line.strip_prefix(PGID_MARKER).and_then(|rest| rest.trim().parse().ok())
}

/// The shell line that ends a process group: TERM, a grace period, then KILL; prints
/// `gone` when the group no longer exists, `alive` otherwise.
pub fn kill_command(pgid: i64) -> String {
    format!(
        "kill -TERM -- -{pgid} 2>/dev/null; for i in 1 2 3 4 5 6 7 8 9 10; do \
         kill -0 -- -{pgid} 2>/dev/null || {{ echo gone; exit 0; }}; sleep 0.2; done; \
         kill -KILL -- -{pgid} 2>/dev/null; sleep 0.2; kill -0 -- -{pgid} 2>/dev/null && echo alive || echo gone"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn placeholders_are_shell_quoted_unless_raw() {
        let v = vars(&[("TAG", "v1; rm -rf / 'x'")]);
        assert_eq!(render("deploy {{ TAG }}", &v, false).unwrap(), r"deploy 'v1; rm -rf / '\''x'\'''");
        assert_eq!(render("deploy {{ TAG }}", &v, true).unwrap(), "deploy v1; rm -rf / 'x'");
    }

    #[test]
    fn an_undefined_placeholder_is_an_error_not_an_empty_string() {
        assert!(render("rm -rf /{{ DIR }}", &vars(&[]), false).is_err());
    }

    #[test]
    fn the_wrapper_runs_under_sh_and_reports_its_group() {
        let cmd = remote_command("bash", "echo \"$TAG\" \"it's\"", &[("TAG".into(), "a'b".into())]);
        let out = std::process::Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a'b it's\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(parse_pgid(err.lines().next().unwrap()).is_some(), "{err:?}");
    }
}
