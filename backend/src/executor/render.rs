//! Turning a step into what runs: the body rendered with minijinja, each placeholder's
//! output escaped for the shell context it lands in (or refused), and the small `sh`
//! program that carries the variables and the script on standard input, so that neither
//! shows on any command line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use api_types::Message;
use minijinja::{Environment, UndefinedBehavior, Value};

use super::shell::{self, Quoting};

/// `'…'` with embedded quotes closed, escaped and reopened: safe in any POSIX shell.
pub fn shell_quote(value: &str) -> String {
    Quoting::Unquoted.escape(value)
}

/// Interpreters whose quoting rules `shell` knows (the POSIX family, bash, ksh, zsh).
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "ksh", "ksh93", "mksh", "lksh", "pdksh", "zsh", "posh", "yash"];

/// True when `interpreter` (a name or a path) is a shell whose quoting Taskgate escapes for.
pub fn is_shell(interpreter: &str) -> bool {
    let name = interpreter.rsplit('/').next().unwrap_or(interpreter);
    SHELLS.contains(&name)
}

/// What a step is rendered with.
pub struct Vars<'a> {
    /// The task's arguments: inserted as given in `raw` mode, escaped otherwise.
    pub args: &'a BTreeMap<String, String>,
    /// Values Taskgate supplies (`TASK_NAME`, `HOST`, …): always escaped.
    pub builtins: &'a BTreeMap<String, String>,
    /// The template's `raw_params`.
    pub raw: bool,
}

/// One placeholder output, recorded by the formatter in rendering order.
struct Output {
    text: String,
    raw: bool,
}

/// Private-use characters around each output: `\u{E000}<nonce>.<index>\u{E001}`. The
/// nonce is random per rendering, so neither a body nor a value can forge one; digits and
/// private-use characters survive `upper`, `lower` and `title`.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

fn marker_prefix(nonce: u64) -> String {
    format!("{OPEN}{nonce:020}.")
}

/// Recognises this rendering's marker at the start of `rest`.
fn read_marker(prefix: &str, rest: &str) -> Option<(usize, usize)> {
    let after = rest.strip_prefix(prefix)?;
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let index = after[..digits].parse().ok()?;
    after[digits..].starts_with(CLOSE).then(|| (prefix.len() + digits + CLOSE.len_utf8(), index))
}

/// The minijinja environment bodies render in. In a `raw_params` template "safe" is what
/// tells an argument (inserted as given) from a built-in (always escaped), so the filters
/// that make a safe string out of any value are gone: with them `{{ TASK_NAME | safe }}`
/// (or `escape`, `tojson`) would let a task's name run.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for filter in ["safe", "escape", "e", "tojson"] {
        env.remove_filter(filter);
    }
    env
}

/// Renders `body` for `interpreter`. Each placeholder's output is escaped for where it
/// lands in the shell text; a place where no escaping is safe is an error naming the
/// placeholder. Other interpreters get no placeholder output at all, except raw arguments.
pub fn render(body: &str, vars: &Vars<'_>, interpreter: &str) -> Result<String, String> {
    render_with(body, vars, interpreter, UndefinedBehavior::Strict).map_err(|m| m.text())
}

fn render_with(
    body: &str,
    vars: &Vars<'_>,
    interpreter: &str,
    undefined: UndefinedBehavior,
) -> Result<String, Message> {
    let nonce: u64 = rand::random();
    let prefix = marker_prefix(nonce);
    let outputs: Arc<Mutex<Vec<Output>>> = Arc::default();
    let mut env = environment();
    env.set_undefined_behavior(undefined);
    let (recorded, raw_mode, formatter_prefix) = (outputs.clone(), vars.raw, prefix.clone());
    env.set_formatter(move |out, _state, value| {
        let text = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        let mut list = recorded.lock().expect("outputs lock");
        let index = list.len();
        list.push(Output { text, raw: raw_mode && value.is_safe() });
        write!(out, "{formatter_prefix}{index}{CLOSE}").map_err(minijinja::Error::from)
    });
    let template = env.template_from_str(body).map_err(|e| Message::new("template error: {error}").arg("error", e))?;
    let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
    for (k, v) in vars.args {
        let v = if vars.raw { Value::from_safe_string(v.clone()) } else { Value::from(v.as_str()) };
        ctx.insert(k, v);
    }
    for (k, v) in vars.builtins {
        ctx.insert(k, Value::from(v.as_str()));
    }
    let text = template.render(&ctx).map_err(|e| Message::new("cannot render the step: {error}").arg("error", e))?;
    let outputs = std::mem::take(&mut *outputs.lock().expect("outputs lock"));
    place(body, &text, &prefix, &outputs, interpreter)
}

/// Puts each recorded output where its marker is, escaped for its context.
fn place(body: &str, text: &str, prefix: &str, outputs: &[Output], interpreter: &str) -> Result<String, Message> {
    let names = Placeholders::of(body, outputs.len());
    for (i, o) in outputs.iter().enumerate() {
        if o.text.contains(prefix) {
            return Err(Message::new(
                "{placeholder} prints the output of other placeholders (through a macro, a filter block or a set \
                 block): put placeholders directly in the body",
            )
            .nested("placeholder", names.name(i)));
        }
        if o.text.contains('\0') {
            return Err(Message::new("{placeholder}: its value contains a NUL byte, which no program can receive")
                .nested("placeholder", names.name(i)));
        }
    }
    // Raw arguments become part of the script text first: they may change what follows.
    let mut spliced = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        spliced.push_str(&rest[..at]);
        let (len, index) = read_marker(prefix, &rest[at..])
            .ok_or_else(|| Message::new("internal error: a broken placeholder marker"))?;
        match outputs.get(index) {
            Some(o) if o.raw => spliced.push_str(&o.text),
            Some(_) => spliced.push_str(&rest[at..at + len]),
            None => return Err(Message::new("internal error: an unknown placeholder marker")),
        }
        rest = &rest[at + len..];
    }
    spliced.push_str(rest);

    let marker = |rest: &str| read_marker(prefix, rest);
    let spots = shell::scan(&spliced, &marker);
    if spots.len() != outputs.iter().filter(|o| !o.raw).count() {
        return Err(Message::new("internal error: placeholder markers were lost or repeated"));
    }
    if !is_shell(interpreter) {
        if let Some(spot) = spots.first() {
            return Err(Message::new(
                "{placeholder} cannot be placed in a {interpreter} script: Taskgate escapes values only for shells. \
                 Read the value from the environment instead (every argument is an environment variable)",
            )
            .nested("placeholder", names.name(spot.index))
            .arg("interpreter", interpreter));
        }
    }
    let mut script = String::with_capacity(spliced.len());
    let mut from = 0;
    for spot in &spots {
        script.push_str(&spliced[from..spot.start]);
        let value = &outputs[spot.index].text;
        match &spot.quoting {
            Ok(q) => script.push_str(&q.escape(value)),
            Err(why) => {
                return Err(Message::new(
                    "{placeholder} cannot be quoted safely: {why}. Move it out of there, or use the environment \
                     variable instead",
                )
                .nested("placeholder", names.name(spot.index))
                .nested("why", why.clone()))
            }
        }
        from = spot.end;
    }
    script.push_str(&spliced[from..]);
    if script.contains('\0') {
        return Err(Message::new("the script contains a NUL byte"));
    }
    Ok(script)
}

/// The `{{ … }}` of a body in source order, to name a placeholder in an error when each
/// output comes from one of them (no loops or macros).
struct Placeholders {
    found: Vec<(String, usize)>,
    usable: bool,
}

impl Placeholders {
    fn of(body: &str, outputs: usize) -> Placeholders {
        let mut found = Vec::new();
        let mut rest = body;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open..].find("}}") else { break };
            let snippet = &rest[open..open + close + 2];
            let line = body[..offset + open].matches('\n').count() + 1;
            found.push((snippet.to_string(), line));
            offset += open + close + 2;
            rest = &rest[open + close + 2..];
        }
        let usable = found.len() == outputs && !body.contains("{%");
        Placeholders { found, usable }
    }

    fn name(&self, index: usize) -> Message {
        match self.found.get(index) {
            Some((snippet, line)) if self.usable => {
                Message::new("`{snippet}` on line {line}").arg("snippet", snippet).arg("line", line)
            }
            _ => Message::new("placeholder output number {n}").arg("n", index + 1),
        }
    }
}

/// Checks a body when it is saved: renders it with stand-in values (every name it reads
/// set to `x`, then to the empty string, so that both sides of simple conditions run),
/// lenient about undefined names. A body that passes can still fail at run time when a
/// branch not taken here puts a placeholder somewhere unsafe.
pub fn check_body(body: &str, interpreter: &str, raw: bool, builtins: &[&str]) -> Result<(), Message> {
    let env = environment();
    let globals: Vec<&str> = env.globals().map(|(k, _)| k).collect();
    let names: Vec<String> = match env.template_from_str(body) {
        Ok(t) => t.undeclared_variables(false).into_iter().filter(|n| !globals.contains(&n.as_str())).collect(),
        Err(e) => return Err(Message::new("template error: {error}").arg("error", e)),
    };
    for stand_in in ["x", ""] {
        let mut args = BTreeMap::new();
        let mut plain = BTreeMap::new();
        for n in &names {
            if builtins.contains(&n.as_str()) {
                plain.insert(n.clone(), stand_in.to_string());
            } else {
                args.insert(n.clone(), stand_in.to_string());
            }
        }
        let vars = Vars { args: &args, builtins: &plain, raw };
        render_with(body, &vars, interpreter, UndefinedBehavior::Chainable)?;
    }
    Ok(())
}

/// Marker the program writes first on stderr, followed by the program's nonce and its
/// process group (see `parse_group`).
pub const PGID_MARKER: &str = "\u{1e}taskgate-pgid ";

/// The program `/bin/sh -s` reads on standard input to run one step: it reports its
/// process group (with `report`, a nonce of this program's, which tells its report from
/// anything a login script printed before it), exports the variables, and replaces
/// itself with `interpreter /dev/fd/3`, the script arriving on descriptor 3 as a
/// here-document and standard input being /dev/null. The whole program is one `{ … }`
/// group: sh parses it entirely before running any of it, so a program cut short by a
/// broken connection runs nothing.
///
/// The report is read from `/proc` without starting a process: the group id and the
/// session of the shell (sshd makes each session's shell a group and session leader;
/// one started by a wrapper that forked may not be), the boot id, and the group leader's
/// start time; `-` for what cannot be read.
///
/// Names must be valid environment variable names (`api_types::validate::param_key`) and
/// no value may contain NUL: the caller checks both.
pub fn program(interpreter: &str, script: &str, env: &[(String, String)], report: Option<&str>) -> String {
    let delimiter = loop {
        let candidate = format!("TASKGATE_SCRIPT_END_{:016x}", rand::random::<u64>());
        if !script.lines().any(|l| l == candidate) {
            break candidate;
        }
    };
    let mut p = String::with_capacity(script.len() + 1024);
    p.push_str("{\n");
    if let Some(nonce) = report {
        let nonce: String = nonce.chars().filter(char::is_ascii_alphanumeric).collect();
        p.push_str(concat!(
            "_tg_b=; _tg_g=; _tg_t=; _tg_s=\n",
            "{ read -r _tg_b </proc/sys/kernel/random/boot_id; } 2>/dev/null\n",
            "{ read -r _tg_s </proc/$$/stat; } 2>/dev/null\n",
            "if [ -n \"$_tg_s\" ]; then _tg_s=${_tg_s##*) }; set -- $_tg_s; ",
            "if [ $# -ge 20 ]; then _tg_g=$3; fi; set --; fi\n",
            "_tg_s=; { read -r _tg_s <\"/proc/${_tg_g:-$$}/stat\"; } 2>/dev/null\n",
            "if [ -n \"$_tg_s\" ]; then _tg_s=${_tg_s##*) }; set -- $_tg_s; ",
            "if [ $# -ge 20 ]; then shift 19; _tg_t=$1; fi; set --; fi\n",
        ));
        p.push_str(&format!(
            "printf '{}%s %s %s %s\\n' {nonce} \"${{_tg_g:-$$}}\" \"${{_tg_b:--}}\" \"${{_tg_t:--}}\" >&2\n",
            PGID_MARKER.replace('\u{1e}', "\\036")
        ));
        p.push_str("unset _tg_b _tg_g _tg_t _tg_s\n");
    }
    for (k, v) in env {
        p.push_str(&format!("{k}={}; export {k}\n", shell_quote(v)));
    }
    p.push_str(&format!("exec {} /dev/fd/3 3<<'{delimiter}' </dev/null\n", shell_quote(interpreter)));
    p.push_str(script);
    if !script.ends_with('\n') {
        p.push('\n');
    }
    p.push_str(&delimiter);
    p.push_str("\n}\n");
    p
}

/// Parses the step's process group from a marker line carrying `nonce`, if this is one.
/// Ids 0 and 1 (no group, init) are never a step's.
pub fn parse_group(line: &str, nonce: &str) -> Option<super::kill::StepGroup> {
    let mut words = line.strip_prefix(PGID_MARKER)?.split_whitespace();
    if words.next()? != nonce {
        return None;
    }
    let pgid: i64 = words.next()?.parse().ok().filter(|g| *g > 1)?;
    let boot = words.next().filter(|b| *b != "-").map(str::to_string);
    let start = words.next().and_then(|s| s.parse().ok());
    Some(super::kill::StepGroup { pgid, boot, start })
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
