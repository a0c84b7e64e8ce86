"""Run one command over SSH with the system OpenSSH client, the way pulumi-command v1.2.1 does
with golang.org/x/crypto/ssh.

Two phases, like the real provider:

1. Dial: a control master (`ssh -N -o ControlMaster=yes`) is started and counts as connected once
   its control socket exists (OpenSSH opens it only after host-key check and authentication).
   A failed dial (refused, timeout, host-key mismatch, auth failure) is retried like the real
   provider's `dialWithRetry`: up to `dialErrorLimit` retries (-1 = unlimited), with the Pulumi
   SDK's `retry.Until` backoff (100 ms, x1.5, at most 5 s), then fails with
   "after N failed attempts: ...". Nothing has run on the host then.
2. Run: one session over that master runs the command (`ssh -T ... HOST CMD`), with `stdin` piped
   and the environment sent as env requests (`SendEnv`: the server needs `AcceptEnv`).

Secrets (private keys, passwords) only ever go to 0600 files in a private temporary directory,
deleted afterwards; they are never put in argv, the environment or a log line.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

SSH = shutil.which("ssh") or "/usr/bin/ssh"

# pulumi/sdk/go/common/util/retry defaults, used by pulumi-command's dialWithRetry.
RETRY_DELAY = 0.1
RETRY_BACKOFF = 1.5
RETRY_MAX_DELAY = 5.0

LogLine = Callable[[str], None]


class SshError(Exception):
    """A failed dial or a failed command; str() is the message the engine shows."""


class Cancelled(SshError):
    pass


def go_quote(text: str) -> str:
    """Approximately Go's %q (used by the real provider's error message)."""
    return json.dumps(text, ensure_ascii=False)


def _num(value: Any, default: int) -> int:
    if value is None:
        return default
    return int(value)


def _write_private(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def _condense(text: str) -> str:
    """ssh's error output, without the host-key-changed banner and its temp-file advice."""
    lines = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    if any("Host key verification failed" in line for line in lines):
        which = next((line for line in lines if line.startswith("Host key for")), "")
        return f"handshake failed: host key mismatch: {which} Host key verification failed."
    return " ".join(lines)


class _Endpoint:
    """ssh options for one hop (the target or its proxy)."""

    def __init__(self, conn: Mapping[str, Any], workdir: str, label: str) -> None:
        self.host = str(conn.get("host") or "")
        if not self.host:
            raise SshError(f"{label}: connection.host is required")
        self.port = _num(conn.get("port"), 22)
        self.user = str(conn.get("user") or "root")
        self.dial_error_limit = _num(conn.get("dialErrorLimit"), 10)
        self.per_dial_timeout = _num(conn.get("perDialTimeout"), 15)
        self.env: dict[str, str] = {}
        opts: list[str] = [
            "-F",
            "/dev/null",  # like the Go client: no user or system ssh_config
            "-o",
            "LogLevel=ERROR",  # no "Permanently added ..." noise in the command's stderr
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "ConnectionAttempts=1",  # retries are ours (dialWithRetry)
            "-o",
            "ServerAliveInterval=30",
        ]
        if self.per_dial_timeout > 0:
            opts += ["-o", f"ConnectTimeout={self.per_dial_timeout}"]

        host_key = (conn.get("hostKey") or "").strip()
        if host_key:
            key = next(line.strip() for line in host_key.splitlines() if line.strip())
            pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
            known = _write_private(workdir, f"known_hosts.{label}", f"{pattern} {key}\n")
            opts += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
        else:
            # The real provider uses ssh.InsecureIgnoreHostKey() when no hostKey is given.
            opts += ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"]

        methods = []
        private_key = conn.get("privateKey")
        agent = conn.get("agentSocketPath") or os.environ.get("SSH_AUTH_SOCK")
        if private_key:
            text = private_key if private_key.endswith("\n") else private_key + "\n"
            opts += ["-i", _write_private(workdir, f"id.{label}", text)]
            methods.append("publickey")
        if agent:
            self.env["SSH_AUTH_SOCK"] = str(agent)
            if "publickey" not in methods:
                methods.append("publickey")
        if not private_key:
            # Never fall back to ~/.ssh/id_* (the Go client would not); agent keys still count.
            opts += ["-o", "IdentityFile=none"]
        if not agent:
            opts += ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]

        password = conn.get("password")
        key_password = conn.get("privateKeyPassword")
        if password is not None:
            methods += ["password", "keyboard-interactive"]
        if password is not None or key_password is not None:
            askpass = self._askpass(workdir, label, password, key_password)
            self.env.update({"SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force"})
            opts += ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"]
        else:
            opts += ["-o", "BatchMode=yes"]
        opts += ["-o", "PreferredAuthentications=" + ",".join(methods or ["publickey"])]
        self.opts = opts

    @staticmethod
    def _askpass(workdir: str, label: str, password: Any, key_password: Any) -> str:
        """An SSH_ASKPASS helper that answers from 0600 files (never from argv or env)."""
        pw = _write_private(workdir, f"pw.{label}", "" if password is None else str(password))
        kpw = _write_private(
            workdir, f"kpw.{label}", "" if key_password is None else str(key_password)
        )
        script = (
            "#!/bin/sh\n"
            'case "$1" in\n'
            f"  *passphrase*) exec cat {shlex.quote(kpw)} ;;\n"
            f"  *) exec cat {shlex.quote(pw)} ;;\n"
            "esac\n"
        )
        path = os.path.join(workdir, f"askpass.{label}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(script)
        return path

    def destination(self) -> list[str]:
        return ["-p", str(self.port), "-l", self.user, "--", self.host]


class Runner:
    """One SSH run; `cancel()` (from another thread) stops it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()

    def _popen(self, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._cancelled.is_set():
                raise Cancelled("cancelled")
            proc = subprocess.Popen(argv, **kw)
            self._procs.append(proc)
            return proc

    # -- phase 1 -------------------------------------------------------------------------------
    def _dial_once(
        self, argv: list[str], env: Mapping[str, str], socket: str, errfile: str, timeout: float
    ) -> tuple[subprocess.Popen[bytes] | None, str]:
        with open(errfile, "wb") as err:
            proc = self._popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=dict(env),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if os.path.exists(socket):
                return proc, ""
            if proc.poll() is not None:
                break
            if self._cancelled.is_set() or time.monotonic() > deadline:
                proc.terminate()
                proc.wait()
                break
            time.sleep(0.01)
        with open(errfile, "rb") as f:
            reason = _condense(f.read().decode(errors="replace"))
        if self._cancelled.is_set():
            raise Cancelled("cancelled")
        return None, reason or f"ssh exited with status {proc.returncode}"

    def _dial(
        self,
        target: _Endpoint,
        opts: list[str],
        env: Mapping[str, str],
        socket: str,
        workdir: str,
        log: LogLine | None,
    ) -> subprocess.Popen[bytes]:
        argv = [
            SSH,
            *opts,
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPath={socket}",
            "-N",
            *target.destination(),
        ]
        limit = target.dial_error_limit
        # A hung handshake is cut by ConnectTimeout; this bound is only a safety net.
        timeout = (target.per_dial_timeout or 60) * 2 + 5
        delay = RETRY_DELAY
        attempt = 0
        while True:
            proc, reason = self._dial_once(
                argv, env, socket, os.path.join(workdir, "dial.err"), timeout
            )
            if proc is not None:
                return proc
            dials = attempt + 1
            if limit > -1 and dials > limit:
                raise SshError(f"after {attempt} failed attempts: ssh: {reason}")
            if log:
                shown = "inf" if limit == -1 else str(limit)
                log(f"Dial {dials}/{shown} failed: retrying")
            if self._cancelled.wait(min(delay, RETRY_MAX_DELAY)):
                raise Cancelled("cancelled")
            delay = min(delay * RETRY_BACKOFF, RETRY_MAX_DELAY)
            attempt += 1

    # -- both phases ---------------------------------------------------------------------------
    def run(
        self,
        conn: Mapping[str, Any],
        command: str,
        *,
        stdin: str | None = None,
        environment: Mapping[str, str] | None = None,
        log_stdout: LogLine | None = None,
        log_stderr: LogLine | None = None,
        log_status: LogLine | None = None,
    ) -> tuple[str, str]:
        """Run `command`: (stdout, stderr) without one trailing newline, or raise SshError."""
        workdir = tempfile.mkdtemp(prefix="pcmd-")  # 0700
        master: subprocess.Popen[bytes] | None = None
        try:
            target = _Endpoint(conn, workdir, "target")
            opts = list(target.opts)
            env = dict(os.environ)
            env.update(target.env)
            proxy_conn = conn.get("proxy")
            if proxy_conn:
                proxy = _Endpoint(proxy_conn, workdir, "proxy")
                prefix = [f"{k}={v}" for k, v in proxy.env.items()]
                words = (["env", *prefix] if prefix else []) + [
                    SSH,
                    *proxy.opts,
                    "-W",
                    "%h:%p",
                    *proxy.destination(),
                ]
                opts += ["-o", "ProxyCommand=" + " ".join(shlex.quote(w) for w in words)]
            # Env requests: the mux client passes its environment to the master, which sends the
            # variables its own SendEnv allows; so both get the names.
            send = dict(environment or {})
            for name in send:
                opts += ["-o", f"SendEnv={name}"]
            socket = os.path.join(workdir, "cm")
            master = self._dial(target, opts, env, socket, workdir, log_status)

            env.update(send)
            argv = [
                SSH,
                *opts,
                "-o",
                "ControlMaster=no",
                "-o",
                f"ControlPath={socket}",
                "-T",
                *target.destination(),
                command,
            ]
            return self._session(argv, env, command, stdin, log_stdout, log_stderr)
        finally:
            if master is not None and master.poll() is None:
                master.terminate()
                try:
                    master.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    master.kill()
                    master.wait()
            shutil.rmtree(workdir, ignore_errors=True)

    # -- phase 2 -------------------------------------------------------------------------------
    def _session(
        self,
        argv: list[str],
        env: Mapping[str, str],
        command: str,
        stdin: str | None,
        log_stdout: LogLine | None,
        log_stderr: LogLine | None,
    ) -> tuple[str, str]:
        feed = stdin is not None and len(stdin) > 0
        proc = self._popen(
            argv,
            stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
        )
        out: list[bytes] = []
        err: list[bytes] = []
        both: list[bytes] = []
        both_lock = threading.Lock()

        def pump(stream: Any, sink: list[bytes], log: LogLine | None) -> None:
            for line in iter(stream.readline, b""):
                sink.append(line)
                with both_lock:
                    both.append(line)
                if log:
                    log(line.decode(errors="replace").rstrip("\n"))
            stream.close()

        def feeder() -> None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin.encode())  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, out, log_stdout), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, err, log_stderr), daemon=True),
        ]
        if feed:
            threads.append(threading.Thread(target=feeder, daemon=True))
        for t in threads:
            t.start()
        rc = proc.wait()
        for t in threads:
            t.join()
        if self._cancelled.is_set():
            raise Cancelled("cancelled")
        stdout = b"".join(out).decode(errors="replace")
        stderr = b"".join(err).decode(errors="replace")
        if rc != 0:
            status = f"Process exited with status {rc}" if rc > 0 else f"Process killed ({-rc})"
            combined = b"".join(both).decode(errors="replace")
            raise SshError(f"{status}: running {go_quote(command)}:\n{combined}")
        return stdout.removesuffix("\n"), stderr.removesuffix("\n")
