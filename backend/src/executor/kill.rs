//! Ending a step's processes on a timeout or an abort, and proving it.
//!
//! The kill is a small POSIX `sh` program (it runs under dash, bash and busybox ash
//! alike): it lists, from `/proc`, every live process whose process group or session is
//! the step's, signals each by its pid (TERM, then KILL after two seconds), and says
//! `gone` only when a fresh look at `/proc` finds none left. Anything else is a failure
//! with what it saw: no shell's `kill` exit status is trusted, because dash's `kill`
//! refuses `--` and the error, sent to `/dev/null`, once read as "gone".
//!
//! A step's shell is the leader of its process group and, over SSH, of its session
//! (sshd starts each command in a new session), so both fields find what it started,
//! including processes a step moved to a process group of their own; a process that
//! left the session (`setsid`, a daemon) is not the step's any more.

/// What the kill program saw at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillReport {
    /// No process of the group or session is left (zombies waiting to be reaped aside).
    Gone,
    /// These processes were still there after TERM and KILL.
    Alive(Vec<i64>),
    /// The program could not look (no `/proc`), did not finish, or said something else.
    Unknown(String),
}

impl KillReport {
    /// Reads the program's output.
    pub fn parse(output: &str) -> KillReport {
        let last = output.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
        if last == "gone" {
            return KillReport::Gone;
        }
        if let Some(pids) = last.strip_prefix("alive") {
            let pids: Vec<i64> = pids.split_whitespace().filter_map(|p| p.parse().ok()).collect();
            if !pids.is_empty() {
                return KillReport::Alive(pids);
            }
        }
        KillReport::Unknown(if last.is_empty() { "the kill program said nothing".into() } else { last.to_string() })
    }

    /// `kill_confirmed` as a pair records it: true only on evidence.
    pub fn confirmed(&self) -> bool {
        *self == KillReport::Gone
    }

    /// A line for the pair's log.
    pub fn describe(&self, id: i64) -> String {
        match self {
            KillReport::Gone => format!("killed process group {id}: no process of it is left"),
            KillReport::Alive(pids) => format!(
                "killed process group {id}, but these processes are still running: {}",
                pids.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
            ),
            KillReport::Unknown(why) => format!("could not confirm that process group {id} is gone: {why}"),
        }
    }
}

/// The program that ends the processes of group (and session) `id`; give it to
/// `/bin/sh -s` on standard input.
pub fn kill_script(id: i64) -> String {
    format!(
        r#"t={id}
members() {{
    m=
    for d in /proc/[0-9]*; do
        read -r s 2>/dev/null <"$d/stat" || continue
        s=${{s##*) }}
        set -- $s
        [ "$1" = Z ] && continue
        if [ "$3" = "$t" ] || [ "$4" = "$t" ]; then m="$m ${{d#/proc/}}"; fi
    done
}}
pause() {{ sleep 0.1 2>/dev/null || sleep 1; }}
[ -r /proc/self/stat ] || {{ echo "unknown: no /proc to look in"; exit 0; }}
members
[ -z "$m" ] && {{ echo gone; exit 0; }}
kill -TERM $m 2>/dev/null
i=0
while [ $i -lt 20 ]; do
    pause
    members
    [ -z "$m" ] && {{ echo gone; exit 0; }}
    i=$((i + 1))
done
kill -KILL $m 2>/dev/null
i=0
while [ $i -lt 30 ]; do
    pause
    members
    [ -z "$m" ] && {{ echo gone; exit 0; }}
    i=$((i + 1))
done
echo "alive$m"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// Runs the kill program for `id` under `shell` (`["dash"]`, `["busybox", "sh"]`, …).
    fn run_kill(shell: &[&str], id: i64) -> KillReport {
        let mut child = Command::new(shell[0])
            .args(&shell[1..])
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("shell runs");
        child.stdin.take().unwrap().write_all(kill_script(id).as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        KillReport::parse(&String::from_utf8_lossy(&out.stdout))
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    }

    /// Children of the group leader, found in /proc.
    fn group_members(pgid: u32) -> Vec<u32> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
                found.push(pid);
            }
        }
        found
    }

    fn shells() -> Vec<Vec<&'static str>> {
        let mut list = vec![vec!["dash"], vec!["bash", "--posix"]];
        if Command::new("busybox").arg("true").status().is_ok_and(|s| s.success()) {
            list.push(vec!["busybox", "sh"]);
        }
        list
    }

    #[test]
    fn a_group_is_gone_only_when_proc_shows_none_of_it_in_every_shell() {
        for shell in shells() {
            // A group whose members ignore TERM: only KILL ends them.
            let mut leader = Command::new("sh")
                .arg("-c")
                .arg("trap '' TERM; sleep 900 & sleep 900 & wait")
                .process_group(0)
                .spawn()
                .unwrap();
            let pgid = leader.id();
            for _ in 0..100 {
                if group_members(pgid).len() >= 3 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let members = group_members(pgid);
            assert!(members.len() >= 3, "{shell:?}: {members:?}");
            let report = run_kill(&shell, i64::from(pgid));
            let _ = leader.wait();
            assert_eq!(report, KillReport::Gone, "{shell:?}");
            assert!(members.iter().all(|p| !alive(*p)), "{shell:?}: survivors {members:?}");
        }
    }

    #[test]
    fn a_group_with_no_process_is_gone_at_once() {
        for shell in shells() {
            assert_eq!(run_kill(&shell, 999_999_999), KillReport::Gone, "{shell:?}");
        }
    }

    #[test]
    fn only_the_word_gone_confirms_a_kill() {
        assert!(KillReport::parse("gone\n").confirmed());
        assert_eq!(KillReport::parse("alive 12 34\n"), KillReport::Alive(vec![12, 34]));
        for unproven in ["", "kill: Illegal number: -", "unknown: no /proc to look in", "alive"] {
            assert!(!KillReport::parse(unproven).confirmed(), "{unproven:?}");
        }
    }
}
