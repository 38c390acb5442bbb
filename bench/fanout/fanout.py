#!/usr/bin/env python3
"""bench/fanout: a 3-step template on N loopback hosts, timed side by side with
ansible-playbook (3 tasks) and parallel-ssh (1 command), plus sshd's raw login rate.

Every host is a distinct 127.1.x.y address of a local sshd (sshd listens on at most 16
addresses, so N hosts need N/16 sshd processes). Every tool uses curve25519 key exchange,
checks host keys strictly against the same known_hosts, and runs N hosts at once.
Writes its section of docs/benchmarks.md. Run through bench/fanout/run.sh.
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORT = 2222
# A login with a plain /bin/sh: sshd runs every command through the login shell, and a
# heavy ~/.bashrc (root's runs pyenv here) would be timed instead of the tools.
USER = "taskgate-bench"
STEPS = ["echo one", "echo two", "echo three"]
KEX = "curve25519-sha256"


def address(i):
    return f"127.1.{i // 200}.{i % 200 + 1}"


def placed(cpus=None):
    """A preexec_fn that keeps the child (and all it starts) on `cpus` (None: anywhere)."""
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Sshds:
    """ceil(n/16) sshd processes sharing one host key and one authorized client key."""

    def __init__(self, n, work, cpus=None):
        """cpus: the cores the sshds (and so their sessions) may use, for benchmarks that must
        keep them off another process's core (bench/ui's browser); None: any."""
        self.work, self.procs = work, []
        self.key = os.path.join(work, "client_key")
        host_key = os.path.join(work, "host_key")
        for k in (self.key, host_key):
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", k)
        shutil.copy(self.key + ".pub", os.path.join(work, "authorized_keys"))
        # sshd reads authorized_keys as the login user.
        os.chmod(work, 0o755)
        os.chmod(os.path.join(work, "authorized_keys"), 0o644)
        self.fingerprint = sh("ssh-keygen", "-lf", host_key + ".pub").stdout.split()[1]
        pub = open(host_key + ".pub").read().split()
        self.known_hosts = os.path.join(work, "known_hosts")
        with open(self.known_hosts, "w") as f:
            for i in range(n):
                f.write(f"[{address(i)}]:{PORT} {pub[0]} {pub[1]}\n")
        os.makedirs("/run/sshd", exist_ok=True)
        self.user = USER
        for first in range(0, n, 16):
            conf = os.path.join(work, f"sshd_{first}.conf")
            with open(conf, "w") as f:
                f.write(f"Port {PORT}\nHostKey {host_key}\nPidFile {work}/sshd_{first}.pid\n"
                        f"AuthorizedKeysFile {work}/authorized_keys\nStrictModes no\nUsePAM no\n"
                        f"PermitRootLogin yes\nPasswordAuthentication no\nKexAlgorithms {KEX}\n"
                        "MaxStartups 2000:100:4000\nMaxSessions 100\nLogLevel QUIET\nUseDNS no\n")
                for i in range(first, min(first + 16, n)):
                    f.write(f"ListenAddress {address(i)}\n")
            self.procs.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", conf], preexec_fn=placed(cpus)))
        for i in range(n):
            for _ in range(200):
                try:
                    socket.create_connection((address(i), PORT), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.02)

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


class Taskgate:
    def __init__(self, binary, work, n, cpus=None):
        self.work = os.path.join(work, "taskgate")
        os.makedirs(self.work)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, TASKGATE_BIND=f"127.0.0.1:{port}", TASKGATE_DATA_DIR=self.work,
                   TASKGATE_ADMIN_PASSWORD="bench-admin-1", TASKGATE_MAX_PARALLEL_HOSTS=str(max(n, 1)),
                   # The same patience as the other tools' ssh (ConnectTimeout=120, below).
                   TASKGATE_SSH_CONNECT_TIMEOUT_SECS="120",
                   TASKGATE_LOG=os.environ.get("TG_LOG", "warn"))
        self.proc = subprocess.Popen([binary, "serve"], cwd=self.work, env=env, stderr=open(os.path.join(self.work, "log"), "w"),
                                     preexec_fn=placed(cpus))
        # Up to two minutes: on a core shared with thousands of sshds the start is slow.
        for _ in range(2400):
            if self.proc.poll() is not None:
                raise RuntimeError(f"taskgate exited with {self.proc.returncode}: see {self.work}/log")
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        self.token = self.call("POST", "/api/v1/auth/login", {"username": "admin", "password": "bench-admin-1"})["token"]

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
        req.add_header("content-type", "application/json")
        if getattr(self, "token", None):
            req.add_header("authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read() or b"null")

    def peak_rss_mb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_taskgate(binary, sshds, n, work):
    tg = Taskgate(binary, work, n)
    try:
        cred = tg.call("POST", "/api/v1/credentials", {"name": "bench", "kind": "private_key", "secret": open(sshds.key).read()})
        names = []
        for i in range(n):
            tg.call("POST", "/api/v1/hosts", {"name": f"h{i:04}", "address": address(i), "port": PORT, "user": sshds.user,
                                               "credential_id": cred["id"], "host_key_fingerprint": sshds.fingerprint})
            names.append(f"h{i:04}")
        tpl = tg.call("POST", "/api/v1/templates", {"name": "three steps",
                                                     "steps": [{"name": f"s{i}", "group": "1", "script": s} for i, s in enumerate(STEPS)]})
        start = time.monotonic()
        task = tg.call("POST", "/api/v1/tasks", {"template_id": tpl["id"], "schedule": "ready", "hosts": {"1": names}, "concurrency": n})
        while True:
            run = tg.call("GET", f"/api/v1/tasks/{task['id']}/run")
            if run["status"] not in ("ready", "running"):
                break
            time.sleep(0.05)
        wall = time.monotonic() - start
        ok = sum(1 for p in run["pairs"] if p["status"] == "success")
        assert ok == 3 * n, f"taskgate: {ok} of {3 * n} pairs succeeded: " + json.dumps([p for p in run["pairs"] if p["status"] != "success"][:3])
        return {"seconds": wall, "rss_mb": tg.peak_rss_mb()}
    finally:
        tg.stop()


def ssh_options(sshds):
    return ["-o", f"KexAlgorithms={KEX}", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={sshds.known_hosts}",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=120", "-i", sshds.key]


def run_pssh(sshds, n, work, command="echo one"):
    hosts = os.path.join(work, "pssh_hosts")
    with open(hosts, "w") as f:
        for i in range(n):
            f.write(f"{sshds.user}@{address(i)}:{PORT}\n")
    start = time.monotonic()
    out = subprocess.run(["parallel-ssh", "-h", hosts, "-p", str(n), "-t", "0", "-x", " ".join(ssh_options(sshds)), command],
                         capture_output=True, text=True)
    took = time.monotonic() - start
    ok = out.stdout.count("[SUCCESS]")
    assert ok == n, f"parallel-ssh: {ok} of {n} succeeded: {out.stdout[-500:]} {out.stderr[-500:]}"
    return took


def run_ansible(sshds, n, work, venv):
    d = os.path.join(work, "ansible")
    os.makedirs(d)
    with open(os.path.join(d, "hosts.ini"), "w") as f:
        for i in range(n):
            f.write(f"h{i:04} ansible_host={address(i)} ansible_port={PORT} ansible_user={sshds.user}\n")
    with open(os.path.join(d, "ansible.cfg"), "w") as f:
        f.write(f"[defaults]\ninventory = hosts.ini\nforks = {n}\nhost_key_checking = True\ngathering = explicit\n"
                "interpreter_python = /usr/bin/python3\ntimeout = 120\n"
                f"private_key_file = {sshds.key}\n\n[ssh_connection]\npipelining = True\n"
                f"ssh_args = -o KexAlgorithms={KEX} -o UserKnownHostsFile={sshds.known_hosts} -o ControlMaster=auto -o ControlPersist=120s\n")
    with open(os.path.join(d, "play.yml"), "w") as f:
        f.write("- hosts: all\n  gather_facts: false\n  tasks:\n")
        for i, s in enumerate(STEPS):
            f.write(f"    - name: s{i}\n      ansible.builtin.command: {s}\n")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(d, "ansible.cfg"), ANSIBLE_HOME=d, ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(d, "cp"))
    start = time.monotonic()
    out = subprocess.run([os.path.join(venv, "bin", "ansible-playbook"), "play.yml"], cwd=d, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out.stdout)
    bad = [r for r in recap if r[2] != "0" or r[3] != "0"]
    assert len(recap) == n and not bad, f"ansible: {len(recap)} hosts in recap, {len(bad)} failed: {out.stdout[-800:]} {out.stderr[-800:]}"
    return took


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    ver = lambda *a: subprocess.run(a, capture_output=True, text=True).stdout.strip().splitlines()[0] if shutil.which(a[0]) else "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "kernel": platform.release(),
            "ssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()}


def write_section(text, name):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n\nFigures measured on the project's machines, each with the command that produced it.\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    doc = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S) if start in doc else doc.rstrip() + "\n\n" + block + "\n"
    open(path, "w").write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,1000")
    ap.add_argument("--taskgate", default=os.path.join(ROOT, "target", "release", "taskgate"))
    ap.add_argument("--venv", default=os.path.join(ROOT, "bench", ".venv"))
    ap.add_argument("--command", default="bash bench/fanout/run.sh")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    a.taskgate = os.path.abspath(a.taskgate)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        sshds = Sshds(max(sizes), work)
        try:
            for n in sizes:
                w = os.path.join(work, f"n{n}")
                os.makedirs(w)
                raw = run_pssh(sshds, n, w, "true")
                pssh = run_pssh(sshds, n, w)
                tg = run_taskgate(a.taskgate, sshds, n, w)
                ans = run_ansible(sshds, n, w, a.venv)
                rows.append((n, tg, pssh, ans, raw))
                print(f"N={n}: taskgate {tg['seconds']:.2f}s (peak RSS {tg['rss_mb']:.0f} MB), parallel-ssh {pssh:.2f}s, "
                      f"ansible-playbook {ans:.2f}s, sshd logins {n / raw:.0f}/s", flush=True)
        finally:
            sshds.stop()
    m = machine()
    ansible_ver = subprocess.run([os.path.join(a.venv, "bin", "ansible-playbook"), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [
        "## fanout: a 3-step template on N loopback hosts",
        "",
        f"Command: `{a.command}` (sizes {a.sizes}); measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}; {m['ssh']}; "
        f"{ansible_ver.strip()}; parallel-ssh (pssh 2.3.4, Debian).",
        "",
        "Every host is its own 127.1.x.y address on a local sshd (16 addresses per sshd process); all tools use "
        f"`{KEX}` key exchange, strict host-key checking against the same known_hosts, and N hosts at once "
        "(Taskgate `concurrency` = N, parallel-ssh `-p N`, ansible `forks = N`, pipelining on, ControlPersist). "
        "Taskgate runs 3 steps (`echo one`, `echo two`, `echo three`) over one connection per host; its time runs from "
        "the submit call until the task is seen finished. parallel-ssh runs one command (`echo one`); ansible-playbook "
        "runs the same 3 commands as `command` tasks. \"sshd logins/s\" is N divided by parallel-ssh's time for `true`: "
        "the rate at which this sshd accepts logins, the limit for every tool. Peak RSS is the server's VmHWM.",
        "",
        "| N hosts | Taskgate, 3 steps | parallel-ssh, 1 command | ansible-playbook, 3 tasks | Taskgate ÷ parallel-ssh | ansible ÷ Taskgate | sshd logins/s | Taskgate peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, tg, pssh, ans, raw in rows:
        lines.append(f"| {n} | {tg['seconds']:.2f} s | {pssh:.2f} s | {ans:.2f} s | {tg['seconds'] / pssh:.2f}× | "
                     f"{ans / tg['seconds']:.1f}× | {n / raw:.0f} | {tg['rss_mb']:.0f} MB |")
    write_section("\n".join(lines), "fanout")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
