"""Writing output files atomically (a temporary file in the same folder, then a rename) with the permissions any
new file of the user gets (0o666 less the umask), so an interrupted write never leaves a half file behind."""
from __future__ import annotations

import contextlib
import os
import threading

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (/proc), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode open() gives a new file: 0o666 & ~umask (e.g. 0o644 under umask 022)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yields a temporary path next to `path`; when the block finishes, the file there gets the normal new-file mode
    and replaces `path` in one rename. On any error (or KeyboardInterrupt) the temporary file is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        yield tmp
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
