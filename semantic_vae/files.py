"""Atomic file writes: a reader (or a rerun after a crash) never sees half a file.

Whole folders (a cache, a merge) are built in a work folder named after the process and moved
into place when complete; a rerun removes the work folders of processes that are gone.

Each write goes to a temporary file in the same folder, is flushed to disk, then renamed over
the destination. A failure (a full disk, a read-only folder, a path that is a file) raises one
`UserError` naming the path, and the previous file, if any, is left as it was.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock

from semantic_vae.errors import UserError

MANIFEST = "manifest.csv"  # written last into an output folder: its presence says the folder is complete


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def ensure_dir(path: str | Path, what: str = "folder") -> Path:
    """Create the folder (and its parents); a `UserError` when it cannot exist there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder (the {what})")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{path}: cannot create the {what} ({_reason(err)})") from None
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary file + fsync + rename), creating the folder."""
    path = Path(path)
    ensure_dir(path.parent)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    # Not tempfile.mkstemp: its files are private (0600); this one gets the umask's permissions. The name says which
    # process writes it, so a rerun can tell a killed writer's file (`remove_dead_temporaries`).
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}@{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UserError(f"{path}: cannot write ({_reason(err)})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def is_temporary(path: Path) -> bool:
    """Whether a file is one of `write_bytes_atomic`'s temporaries (`.<name>.<host>@<pid>.<12 hex>.tmp`, or
    `.<name>.<12 hex>.tmp` as earlier versions named them)."""
    parts = path.name.split(".")
    return path.name.startswith(".") and path.suffix == ".tmp" and len(parts) >= 4 and len(parts[-2]) == 12


def remove_temporaries(folder: Path) -> None:
    """The temporaries a killed writer left in `folder` (a rerun's first step; nothing else is touched)."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and is_temporary(path):
                path.unlink(missing_ok=True)


def remove_dead_temporaries(path: str | Path) -> None:
    """The temporaries of `path` (a file that one command writes on its own: a checkpoint) whose writer, a process of
    this machine, is gone: a killed `convert` leaves one, and the next successful write of the file clears it."""
    path = Path(path)
    start, host = f".{path.name}.", socket.gethostname()
    for tmp in path.parent.glob(f"{glob.escape(start)}*.tmp"):
        writer = tmp.name[len(start) : -len(".0123456789ab.tmp")]
        name, _, pid = writer.rpartition("@")
        if is_temporary(tmp) and name == host and pid.isdigit() and not process_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def write_output_file(path: str | Path, data: bytes) -> Path:
    """A command's one output file (a checkpoint, an exported .pth) written atomically; then the temporaries that
    killed earlier writes of it left are cleared (`remove_dead_temporaries`), as output folders clear theirs."""
    written = write_bytes_atomic(path, data)
    remove_dead_temporaries(written)
    return written


def check_new_file(path: str | Path, overwrite: bool, flag: str = "--out") -> Path:
    """Where a command will write one file: refused, before any work, when it is a folder, when its folder cannot be
    written, or when a file is there already and `overwrite` is false (a command never replaces a file unasked)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; give the file to write")
    if path.exists() and not overwrite:
        raise UserError(f"{flag} {path}: the file exists; give --overwrite true to replace it, or another {flag}")
    folder = ensure_dir(path.parent, f"folder of {flag}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot write into {folder} (permission denied)")
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | Path, value: Any) -> Path:
    """JSON with a final newline; NaN is written as NaN (Python's json reads it back)."""
    return write_text_atomic(path, json.dumps(value, indent=2, allow_nan=True) + "\n")


def process_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (PermissionError: it does, as another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def work_folder(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A new folder `<prefix><host>@<pid>-<random><suffix>` in `parent`: the name lets a rerun tell a killed
    process's folder. Not mkdtemp: it would be private (0700)."""
    path = parent / f"{prefix}{socket.gethostname()}@{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}"
    path.mkdir()
    return path


def remove_dead_work_folders(parent: Path, prefix: str, suffix: str = "", older_than_s: float | None = None) -> None:
    """Work folders (`work_folder`) left by killed processes (a normal failure removes its own): those of this
    machine whose process is gone and, with `older_than_s`, any older than that (another machine's, on a
    shared disk)."""
    now = time.time()
    for path in parent.glob(f"{prefix}*{suffix}"):
        host, _, rest = path.name[len(prefix) :].partition("@")
        pid = rest.split("-", 1)[0]
        with contextlib.suppress(FileNotFoundError):
            dead = host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))
            if dead or (older_than_s is not None and now - path.stat().st_mtime > older_than_s):
                shutil.rmtree(path, ignore_errors=True)


class FolderLock:
    """An exclusive lock on a folder (`filelock` on `<folder>/.lock`, the kernel's flock), so two processes never
    write one run.

    The kernel drops the lock when the holder dies, so a killed run never leaves the folder locked. The holder writes
    its process id into the file, so the one refused can name it; a clean release removes the file (while still
    holding the lock), so a finished folder holds only its outputs (filelock re-opens a lock file removed meanwhile).
    """

    def __init__(self, folder: str | Path, what: str = "folder") -> None:
        self.path = Path(folder) / ".lock"
        self.what = what
        self._lock: filelock.FileLock | None = None

    def acquire(self) -> FolderLock:
        folder = ensure_dir(self.path.parent, self.what)
        lock = filelock.FileLock(self.path, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            try:
                holder = self.path.read_text().strip()
            except OSError:
                holder = ""
            raise UserError(
                f"{folder}: {holder or 'another process'} is using this {self.what}; wait for it to end or choose "
                "another one"
            ) from None
        except OSError as err:  # a read-only folder, a `.lock` that is a folder, a file system without locks
            raise UserError(f"{folder}: cannot write into this {self.what} ({_reason(err)})") from None
        self.path.write_text(f"process {os.getpid()}")
        self._lock = lock
        return self

    def release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # while holding the lock
            self._lock.release()
            self._lock = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class OutputFolder:
    """A command's output folder, under one rule for every command that writes one.

    While the command runs the folder is locked (a second process is refused in one line). On entry, what an
    interrupted run left is cleared: hidden temporary files of atomic writes, and the old manifest, so that an
    unfinished folder never looks finished. `manifest.csv` is written last, by `finish`; outputs an earlier run
    listed that this run did not write again are removed then (a rerun with other settings leaves no stale files).
    """

    def __init__(self, path: str | Path, what: str = "--out folder") -> None:
        self.path = Path(path)
        self.what = what
        self._lock: FolderLock | None = None
        self.previous: list[str] = []  # outputs the old manifest listed

    def __enter__(self) -> OutputFolder:
        ensure_dir(self.path, self.what)
        self._lock = FolderLock(self.path, self.what).acquire()
        remove_temporaries(self.path)
        remove_temporaries(self.path / "color")
        manifest = self.path / MANIFEST
        if manifest.is_file():
            rows = list(csv.DictReader(manifest.open(newline="")))
            self.previous = [r[k] for r in rows for k in ("output", "color_output") if r.get(k)]
            manifest.unlink()
        return self

    def finish(self, rows: Sequence[dict], fields: Sequence[str], owned: Iterable[Path] = ()) -> None:
        """Write the manifest (last), then remove stale outputs: the old manifest's and `owned` files not in rows."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        written = {r[k] for r in rows for k in ("output", "color_output") if r.get(k)}
        stale = {name for name in self.previous if name not in written}
        stale |= {str(p.relative_to(self.path)) for p in owned if str(p.relative_to(self.path)) not in written}
        for name in sorted(stale):
            (self.path / name).unlink(missing_ok=True)
        write_text_atomic(self.path / MANIFEST, buffer.getvalue())

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._lock is not None:
            self._lock.release()
