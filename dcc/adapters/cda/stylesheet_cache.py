"""A disk cache of the validator stylesheets generated from the ANS kit's schematrons (dcc.adapters.cda.validate).

Saxon-HE cannot save a compiled stylesheet (exporting one needs Saxon-EE, as does just-in-time compilation), so
every process still compiles the validators it uses. What is kept between processes is the text the ISO skeleton
generates from a .sch file, and its fast rewrite: seconds of work per process (about a fifth of the N1 model's
cost, whose generated stylesheet is 13 MB; the rest is Saxon's compilation).

An entry is named by a SHA-256 of everything its text depends on: every file of the schematron's folder tree
(the nearest enclosing `schematrons/` folder, where the kit's includes resolve, else the .sch file's own folder),
the .sch file's path in that tree, the ISO skeleton stylesheets, the Saxon version and the source of the modules
that generate and rewrite the text (`sources`). A change to any of them gives a new name: nothing is invalidated
in place and an entry never goes stale. Folder: $DCC_CACHE_DIR, else $XDG_CACHE_HOME/dcc, else ~/.cache/dcc
(subfolder `schematron/`); `DCC_CACHE_DIR=off` turns the cache off. An entry is written to a temporary file then
renamed, so that concurrent processes (pytest-xdist workers) never read half an entry; an unwritable folder only
means no cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

FORMAT = "1"  # bumped if the layout of an entry changes
_lock = threading.Lock()
_tree_digests: dict[Path, str] = {}


def cache_dir() -> Path | None:
    """The folder of the entries, or None when the cache is off."""
    env = os.environ.get("DCC_CACHE_DIR", "")
    if env.lower() == "off":
        return None
    if env:
        return Path(env) / "schematron"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dcc" / "schematron"


def tree_root(sch: Path) -> Path:
    """The folder whose files a .sch file's text may depend on (see the module docstring)."""
    for parent in sch.parents:
        if parent.name == "schematrons":
            return parent
    return sch.parent


def _tree_digest(root: Path) -> str:
    with _lock:
        digest = _tree_digests.get(root)
        if digest is None:
            h = hashlib.sha256()
            for f in sorted(p for p in root.rglob("*") if p.is_file()):
                h.update(f.relative_to(root).as_posix().encode() + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
            digest = h.hexdigest()
            _tree_digests[root] = digest
        return digest


def forget_trees() -> None:
    """Forget the folder digests computed by this process (a test that changes a folder's files)."""
    with _lock:
        _tree_digests.clear()


def entry_key(sch: Path, *, skeleton_dir: Path, sources: Iterable[Path]) -> str:
    """The name of the entries generated from `sch` (see the module docstring)."""
    sch = sch.resolve()
    root = tree_root(sch)
    h = hashlib.sha256(f"dcc-schematron-cache {FORMAT}\0".encode())
    h.update(_tree_digest(root).encode() + b"\0" + sch.relative_to(root).as_posix().encode() + b"\0")
    for f in sorted(p for p in skeleton_dir.iterdir() if p.is_file()):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    try:
        saxon = metadata.version("saxonche")
    except metadata.PackageNotFoundError:
        saxon = "unknown"
    h.update(f"\0saxonche {saxon}\0".encode())
    for src in sources:
        h.update(hashlib.sha256(Path(src).read_bytes()).digest())
    return h.hexdigest()


def load(key: str, part: str) -> str | None:
    """The text of entry `key`'s `part`, or None when it is not cached."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return (folder / f"{key}.{part}").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def store(key: str, part: str, text: str) -> None:
    """Keep `text` as entry `key`'s `part` (atomically; silently nothing when the folder is not writable)."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, folder / f"{key}.{part}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return
