"""Network namespaces, the topology, and processes started inside them.

Every namespace is named with PREFIX, so a run can remove what a crashed
run left behind. Processes are started with `ip netns exec NS ...` (which
execs, so the pid we get is the program's own pid) and stopped by that pid.
"""
import ctypes
import os
import signal
import subprocess
import time

PREFIX = "esi-"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args, check=True, ns=None, input=None, timeout=20):
    """Run a short command (optionally inside namespace `ns`); return stdout."""
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def ip_batch(ns, lines):
    """`ip -batch` inside `ns` (or the root namespace when ns is None)."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    r = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"ip -n {ns} -batch: {r.stderr.strip()}\n" + "\n".join(lines))


def our_namespaces():
    out = sh("ip", "netns", "list", check=False)
    return [l.split()[0] for l in out.splitlines() if l.split() and l.split()[0].startswith(PREFIX)]


def kill_pids(pids, grace=2.0):
    """SIGTERM the given pids, wait up to `grace` seconds, then SIGKILL."""
    pids = [p for p in pids if p > 1 and p != os.getpid()]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    alive = list(pids)
    while alive and time.time() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    for p in alive:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def clean_stale():
    """Stop processes inside namespaces named PREFIX* and delete those namespaces."""
    stale = our_namespaces()
    for ns in stale:
        out = sh("ip", "netns", "pids", ns, check=False)
        kill_pids([int(p) for p in out.split() if p.isdigit()])
        sh("ip", "netns", "del", ns, check=False)
    return stale


class socket_in:
    """Context manager: the calling thread is inside namespace `ns`, so sockets
    created there belong to it (a socket keeps its namespace for life)."""

    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        self.orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {self.ns}")
        finally:
            os.close(fd)

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.orig, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.orig)


class Proc:
    """A process started in a namespace, logged to a file, stopped by pid."""

    def __init__(self, name, ns, argv, log_path, cwd=None):
        self.name, self.ns, self.argv, self.log_path = name, ns, argv, log_path
        self.logf = open(log_path, "wb")
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns] + argv,
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT, cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, grace=3.0):
        """SIGTERM by pid, SIGKILL after `grace`; returns the exit status."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        self.logf.close()
        return self.p.returncode

    def log(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0
