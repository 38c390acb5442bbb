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

/// A step's process group as the step reported it: its id and, to tell it from a later
/// process that got the same id, the boot it ran in (`/proc/sys/kernel/random/boot_id`,
/// which also differs between machines) and its leader's start time (clock ticks since
/// boot). A kill is aimed only at that group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepGroup {
    pub pgid: i64,
    pub boot: Option<String>,
    pub start: Option<i64>,
}

impl StepGroup {
    /// A group known by its id alone (nothing to check it against).
    pub fn bare(pgid: i64) -> StepGroup {
        StepGroup { pgid, boot: None, start: None }
    }

    /// The boot id, if it looks like one (hex digits and dashes): it goes into a program.
    fn boot_id(&self) -> &str {
        match &self.boot {
            Some(b) if !b.is_empty() && b.len() <= 64 && b.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => b,
            _ => "",
        }
    }
}

/// The program that ends the processes of `group` (and its session); give it to
/// `/bin/sh -s` on standard input. It kills nothing when the machine or boot is not the
/// step's, or when the group's id now leads another process (Linux reuses no id while a
/// group or session of it lives, so members found while the leader is gone are the step's).
pub fn kill_script(group: &StepGroup) -> String {
    let (id, boot) = (group.pgid, group.boot_id());
    let start = group.start.map(|s| s.to_string()).unwrap_or_default();
    format!(
        r#"t={id}
want_boot='{boot}'
want_start='{start}'
# The whole stat of process $1 in s, its lines joined (a name may hold a newline), then
# what follows the name; empty when it cannot be read.
readstat() {{
    s=
    {{ while IFS= read -r l || [ -n "$l" ]; do s="$s $l"; done <"$1"; }} 2>/dev/null
    case $s in *") "*) s=${{s##*) }} ;; *) s= ;; esac
}}
if [ -n "$want_boot" ]; then
    b=
    {{ read -r b </proc/sys/kernel/random/boot_id; }} 2>/dev/null
    [ "$b" = "$want_boot" ] || {{ echo "unknown: this is not the machine or the boot the step ran in; nothing was killed"; exit 0; }}
fi
if [ -n "$want_start" ] && [ -e "/proc/$t" ]; then
    readstat "/proc/$t/stat"
    set -- $s
    if [ $# -ge 20 ]; then
        shift 19
        [ "$1" = "$want_start" ] || {{ echo "unknown: process $t is another program now; nothing was killed"; exit 0; }}
    elif [ -e "/proc/$t" ]; then
        echo "unknown: process $t cannot be read; nothing was killed"; exit 0
    fi
fi
# /proc mounted with hidepid hides other users' processes (a step's sudo children) from
# all but root: then "none left" is not evidence.
hidden=
uid=
{{ while read -r k v rest; do [ "$k" = Uid: ] && uid=$v; done </proc/self/status; }} 2>/dev/null
if [ "$uid" != 0 ]; then
    {{ while read -r dev mnt fs opts rest; do
        [ "$mnt" = /proc ] && case ",$opts," in *,hidepid=0,*|*,hidepid=off,*) ;; *,hidepid=*) hidden=1 ;; esac
    done </proc/mounts; }} 2>/dev/null
fi
members() {{
    m=
    for d in /proc/[0-9]*; do
        readstat "$d/stat"
        [ -n "$s" ] || continue
        set -- $s
        [ "$1" = Z ] && continue
        if [ "$3" = "$t" ] || [ "$4" = "$t" ]; then m="$m ${{d#/proc/}}"; fi
    done
}}
gone() {{
    if [ -n "$hidden" ]; then echo "unknown: /proc hides other users' processes here; none of this user's is left"; else echo gone; fi
    exit 0
}}
pause() {{ sleep 0.1 2>/dev/null || sleep 1; }}
[ -r /proc/self/stat ] || {{ echo "unknown: no /proc to look in"; exit 0; }}
members
[ -z "$m" ] && gone
kill -TERM $m 2>/dev/null
i=0
while [ $i -lt 20 ]; do
    pause
    members
    [ -z "$m" ] && gone
    i=$((i + 1))
done
kill -KILL $m 2>/dev/null
i=0
while [ $i -lt 30 ]; do
    pause
    members
    [ -z "$m" ] && gone
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
        run_kill_group(shell, &StepGroup::bare(id))
    }

    fn run_kill_group(shell: &[&str], group: &StepGroup) -> KillReport {
        let mut child = Command::new(shell[0])
            .args(&shell[1..])
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("shell runs");
        child.stdin.take().unwrap().write_all(kill_script(group).as_bytes()).unwrap();
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

    /// The group a step would report, read the way the step's program reads it.
    fn reported(pid: u32) -> StepGroup {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_string();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let start = stat.rsplit_once(") ").unwrap().1.split_whitespace().nth(19).unwrap().parse().unwrap();
        StepGroup { pgid: i64::from(pid), boot: Some(boot), start: Some(start) }
    }

    #[test]
    fn a_group_whose_id_now_leads_another_program_or_boot_is_left_alone() {
        for shell in shells() {
            let mut leader = Command::new("sleep").arg("900").process_group(0).spawn().unwrap();
            let group = reported(leader.id());
            let later = StepGroup { start: group.start.map(|s| s + 1), ..group.clone() };
            let report = run_kill_group(&shell, &later);
            assert!(
                matches!(&report, KillReport::Unknown(w) if w.contains("another program")),
                "{shell:?}: {report:?}"
            );
            assert!(alive(leader.id()), "{shell:?}: a process that only shares the id was killed");
            let elsewhere = StepGroup { boot: Some("00000000-0000-0000-0000-000000000000".into()), ..group.clone() };
            let report = run_kill_group(&shell, &elsewhere);
            assert!(matches!(&report, KillReport::Unknown(w) if w.contains("machine")), "{shell:?}: {report:?}");
            assert!(alive(leader.id()), "{shell:?}: killed on the wrong machine or boot");
            assert_eq!(run_kill_group(&shell, &group), KillReport::Gone, "{shell:?}: the step's own group");
            let _ = leader.wait();
        }
    }

    #[test]
    fn a_hostile_boot_id_never_reaches_the_program() {
        let g = StepGroup { pgid: 5, boot: Some("x'; touch /tmp/pwned; '".into()), start: Some(1) };
        let script = kill_script(&g);
        assert!(script.contains("want_boot=''"), "{script}");
        assert!(!script.contains("pwned"));
    }

    #[test]
    fn a_process_that_puts_a_newline_in_its_name_is_still_found_and_killed() {
        for shell in shells() {
            // dash's printf is a builtin: the shell renames itself, and loops.
            let mut leader = Command::new("dash")
                .arg("-c")
                .arg("printf 'a\\nb) Z 1 1 1' >/proc/self/comm; while :; do sleep 1; done")
                .process_group(0)
                .spawn()
                .unwrap();
            let pid = leader.id();
            let renamed = (0..100).any(|_| {
                let done = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("a\n"));
                if !done {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                done
            });
            assert!(renamed, "the leader could not put a newline in its name");
            let group = reported(pid);
            let report = run_kill_group(&shell, &group);
            let _ = leader.wait();
            assert_eq!(report, KillReport::Gone, "{shell:?}");
            assert!(!alive(pid), "{shell:?}: the renamed leader survived a kill reported as gone");
        }
    }
}
