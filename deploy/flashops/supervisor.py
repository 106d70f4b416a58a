"""Every deploy/Procfile process under supervisord: restarted when it dies (ADR 0081).

:func:`render_config` turns the Procfile (still the one list of local processes, which the
parity tests compare with compose and Kubernetes) into ``$VAR_DIR/supervisor/
supervisord.conf``: one ``[program:<name>]`` per entry, run by ``/bin/sh -c 'exec ...'`` as
honcho ran them (so ``$VAR`` and ``${VAR:-default}`` expand), each in its own process group,
restarted when it exits (``autorestart``), with supervisord's backoff while it keeps dying
before ``startsecs`` (at most ``startretries`` tries, then FATAL).

:class:`LogTail` prints every process's output prefixed by its name, and supervisord's
state changes as clear lines (``RESTARTING``, ``GAVE UP``). :func:`reaper_main` is the
event listener that kills what a dead process left in its process group (NGINX's workers
outlive a SIGKILLed master and would hold its port), as a container runtime kills the whole
container when its main process dies.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from flashops.defaults import DEPLOY, ROOT

PROCFILE = DEPLOY / "Procfile"

# A process that stays up this long counts as started; one that dies sooner is retried after
# 1, 2, 3 ... s (supervisord's backoff), at most STARTRETRIES times, then left FATAL.
STARTSECS = 3
STARTRETRIES = 10
# Graceful stop (SIGTERM to the process group), then SIGKILL after this long.
STOPWAITSECS = 20
# A unix socket path longer than this does not fit sockaddr_un (108 bytes, NUL included).
MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Entry:
    name: str
    command: str


def procfile_entries(path: Path = PROCFILE) -> list[Entry]:
    """The Procfile's ``name: command`` lines, in order (comments and blanks skipped)."""
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        entries.append(Entry(name=name.strip(), command=command.strip()))
    return entries


def supervisor_dir(env: Mapping[str, str]) -> Path:
    return Path(env["VAR_DIR"]) / "supervisor"


def config_path(env: Mapping[str, str]) -> Path:
    return supervisor_dir(env) / "supervisord.conf"


def socket_path(env: Mapping[str, str]) -> Path:
    return supervisor_dir(env) / "supervisor.sock"


def _escape(value: str) -> str:
    """supervisord expands ``%(name)s`` in its values: a literal ``%`` is ``%%``."""
    return value.replace("%", "%%")


def program_section(entry: Entry, *, log_dir: Path) -> str:
    command = shlex.join(["/bin/sh", "-c", f"exec {entry.command}"])
    return "\n".join(
        [
            f"[program:{entry.name}]",
            f"command={_escape(command)}",
            f"directory={_escape(str(ROOT))}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={STARTSECS}",
            f"startretries={STARTRETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOPWAITSECS}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_escape(str(log_dir / f'{entry.name}.log'))}",
            # no rotation: LogTail follows each file from its start
            "stdout_logfile_maxbytes=0",
            "stdout_logfile_backups=0",
            "",
        ]
    )


def render_config(env: Mapping[str, str], *, names: Sequence[str]) -> Path:
    """Write supervisord.conf for the Procfile entries in ``names``; returns its path."""
    base = supervisor_dir(env)
    log_dir = base / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sock = socket_path(env)
    if len(str(sock)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"supervisord's socket path {sock} is longer than {MAX_SOCKET_PATH} characters: "
            "set VAR_DIR to a shorter directory"
        )
    chosen = [e for e in procfile_entries() if e.name in set(names)]
    python = sys.executable
    sections = [
        "; Rendered by `bin/platform up` from deploy/Procfile (flashops.supervisor): do not edit.",
        "[unix_http_server]",
        f"file={_escape(str(sock))}",
        "chmod=0700",
        "",
        "[supervisord]",
        "nodaemon=true",
        # its own log goes to the file only: the runner prints the lines worth a line
        "silent=true",
        f"logfile={_escape(str(base / 'supervisord.log'))}",
        "logfile_maxbytes=0",
        "logfile_backups=0",
        "loglevel=info",
        f"pidfile={_escape(str(base / 'supervisord.pid'))}",
        f"childlogdir={_escape(str(log_dir))}",
        # the Procfile's processes get the runner's environment (ports, URLs, VAR_DIR)
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_escape(str(sock))}",
        "",
        "[eventlistener:reaper]",
        f"command={_escape(shlex.join([python, '-m', 'flashops.supervisor', 'reaper']))}",
        f"directory={_escape(str(ROOT))}",
        "events=PROCESS_STATE_EXITED",
        "autorestart=true",
        f"stderr_logfile={_escape(str(log_dir / 'reaper.log'))}",
        "stderr_logfile_maxbytes=0",
        "stderr_logfile_backups=0",
        "",
    ]
    sections += [program_section(entry, log_dir=log_dir) for entry in chosen]
    path = config_path(env)
    path.write_text("\n".join(sections))
    return path


# --- the event listener ---------------------------------------------------------------------


def _fields(text: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in text.split() if ":" in token)


def reap_group(pid: int) -> bool:
    """SIGKILL what is left of the dead process's group (its pid is the group's id)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def reaper_main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """supervisord's event listener protocol: READY, read one event, RESULT 2\\nOK."""
    while True:
        stdout.write("READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        header = _fields(line)
        payload = _fields(stdin.read(int(header.get("len", "0"))))
        if header.get("eventname") == "PROCESS_STATE_EXITED" and payload.get("expected") == "0":
            name, pid = payload.get("processname", "?"), int(payload.get("pid", "0"))
            if pid > 1 and reap_group(pid):
                print(f"reaped what {name} (pid {pid}) left in its process group", file=sys.stderr)
                sys.stderr.flush()
        stdout.write("RESULT 2\nOK")
        stdout.flush()


# --- output -----------------------------------------------------------------------------------

_STATE = re.compile(
    r"^\S+ \S+ \w+ (?P<what>exited|spawned|gave up|success|stopped|waiting for)"
    r":? '?(?P<name>[\w-]+)'?(?P<rest>.*)$"
)


def supervisord_line(line: str, *, died: set[str]) -> str | None:
    """supervisord's own log line as the runner prints it (None: not worth a line).
    ``died`` holds the processes that died and are being restarted (updated here)."""
    match = _STATE.match(line)
    if not match:
        return None
    what, name, rest = match.group("what"), match.group("name"), match.group("rest").strip()
    if what == "exited" and "not expected" in rest:
        died.add(name)
        reason = rest.strip("()").split(";")[0]
        return f"*** {name} DIED ({reason}): supervisord is RESTARTING it"
    if what == "gave up":
        died.discard(name)
        return f"*** {name} GAVE UP: {rest} (see `bin/platform ctl status`)"
    if what == "spawned":
        pid = rest.removeprefix("with ")
        if name in died:
            return f"*** {name} RESTARTED ({pid})"
        return f"{name} started ({pid})"
    if what == "success":
        return None  # every process, once, at start: the URL summary says it
    return f"{what} {name} {rest}".rstrip()


class LogTail:
    """Follow the processes' log files and supervisord's, printing each line prefixed."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        names: Sequence[str],
        write: Callable[[str], None] = print,
    ):
        self.base = supervisor_dir(env)
        self.write = write
        self.positions: dict[Path, int] = {}
        self.partial: dict[Path, str] = {}
        self.died: set[str] = set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="log-tail", daemon=True)
        self.width = max(len(n) for n in [*names, "supervisord"])

    def start(self) -> LogTail:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.poll()  # the last lines written before the stop

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.poll()
            time.sleep(0.2)

    def _files(self) -> list[tuple[str, Path]]:
        files = [("supervisord", self.base / "supervisord.log")]
        files += [(p.stem, p) for p in sorted(self.base.glob("logs/*.log"))]
        return files

    def poll(self) -> None:
        for name, path in self._files():
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            pos = self.positions.get(path, 0)
            if size < pos:  # truncated: from the start again
                pos = 0
            if size == pos:
                continue
            with path.open("rb") as handle:
                handle.seek(pos)
                chunk = handle.read(size - pos)
            self.positions[path] = pos + len(chunk)
            text = self.partial.pop(path, "") + chunk.decode(errors="replace")
            lines = text.split("\n")
            if lines[-1]:
                self.partial[path] = lines[-1]
            for line in lines[:-1]:
                self._emit(name, line)

    def _emit(self, name: str, line: str) -> None:
        if name == "supervisord":
            shown = supervisord_line(line, died=self.died)
            if shown is None:
                return
            line = shown
        self.write(f"{name:<{self.width}} | {line}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["reaper"]:
        return reaper_main()
    print("usage: python -m flashops.supervisor reaper", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
