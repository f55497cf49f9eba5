"""Leaderboards regenerated from the results store: Markdown, CSV, figures and an HTML site.

Everything is built in memory first (:func:`build` gives one :class:`Output` per folder), then
either written or compared byte for byte with what is on disk (``--check``): the committed
leaderboards must be exactly what the committed store gives. A page carries a marker naming
the store it came from (relative to the page's folder); writing over pages from another store,
or over files that no leaderboard made, needs ``force``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .board import (
    MARKER,
    Board,
    TaskInfo,
    board_files,
    collect_figures,
    draw_plots,
    load_standings,
    managed_folders,
)
from .errors import ConfigurationError, DataError
from .fileio import atomic_write_bytes
from .results import ResultsStore
from .site import site_files
from .standings import labelled

__all__ = ["Output", "TaskInfo", "build", "labelled", "publish"]


# -- writing and checking ------------------------------------------------------------------

@dataclass
class Output:
    """Files to write under one folder: their bytes, the page each belongs to (whose marker
    says which store made it) and the folders owned wholly."""

    root: Path
    store: str
    files: dict[str, bytes] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)
    managed: list[str] = field(default_factory=list)

    def add(self, files: Mapping[str, bytes], page: str) -> None:
        for path, data in files.items():
            self.files[path] = data
            self.owner.setdefault(path, page)

    def stale(self) -> list[str]:
        """Files in the managed folders that this output does not contain."""
        out = []
        for folder in self.managed:
            base = self.root / folder
            if base.is_dir():
                out += [p.relative_to(self.root).as_posix() for p in sorted(base.rglob("*"))
                        if p.is_file() and not p.name.startswith(".")
                        and p.relative_to(self.root).as_posix() not in self.files]
        return out

    def conflicts(self) -> list[str]:
        """Existing files this output would overwrite although they came from another store
        or from no leaderboard at all."""
        out = []
        for page in sorted(set(self.owner.values())):
            path = self.root / page
            if path.is_file():
                found = MARKER.search(path.read_text(errors="replace")[:1000])
                if found is None:
                    out.append(f"{path} was not written by 'perfekt-bench leaderboard'")
                elif found.group(1) != self.store:
                    out.append(f"{path} was made from the results store {found.group(1)}, "
                               f"not {self.store}")
                continue
            for file, owner in self.owner.items():
                target = self.root / file
                if owner == page and target.is_file() and target.read_bytes() != self.files[file]:
                    out.append(f"{target} exists and was not written by a leaderboard of this "
                               "store")
                    break
        return out

    def write(self) -> list[Path]:
        """Write every file that differs from what is on disk and remove stale files in the
        managed folders (call :func:`publish`, which checks for conflicts first). Returns the
        paths written."""
        written = []
        for path, data in sorted(self.files.items()):
            target = self.root / path
            if not (target.is_file() and target.read_bytes() == data):
                atomic_write_bytes(target, data)
                target.chmod(0o644)  # a published page is for everyone to read
                written.append(target)
        for path in self.stale():
            (self.root / path).unlink()
        for folder in self.managed:
            _remove_empty_dirs(self.root / folder)
        return written

    def differences(self) -> list[str]:
        """Every way the folder on disk differs from this output, the first one in detail."""
        out = []
        for path, data in sorted(self.files.items()):
            target = self.root / path
            if not target.is_file():
                out.append(f"{target}: missing (the store gives {len(data)} bytes)")
            elif (old := target.read_bytes()) != data:
                out.append(_first_difference(target, old, data))
        out += [f"{self.root / p}: not made from the store (stale)" for p in self.stale()]
        return out


def _remove_empty_dirs(folder: Path) -> None:
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()


def _first_difference(path: Path, old: bytes, new: bytes) -> str:
    try:
        a, b = old.decode().splitlines(), new.decode().splitlines()
    except UnicodeDecodeError:
        at = next((i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y),
                  min(len(old), len(new)))
        return (f"{path}: {len(old)} bytes on disk, {len(new)} from the store; first "
                f"difference at byte {at}")
    for tag, i1, _i2, j1, _j2 in difflib.SequenceMatcher(None, a, b,
                                                          autojunk=False).get_opcodes():
        if tag != "equal":
            was = a[i1] if i1 < len(a) else "(end of file)"
            now = b[j1] if j1 < len(b) else "(end of file)"
            return f"{path}:{i1 + 1}: on disk {was!r}, from the store {now!r}"
    return f"{path}: line endings differ"


def publish(outputs: list[Output], *, force: bool = False) -> list[list[Path]]:
    """Write ``outputs``; unless ``force``, refuse before writing anything when one would
    overwrite another store's pages or files no leaderboard made."""
    conflicts = [c for o in outputs for c in o.conflicts()]
    if conflicts and not force:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise ConfigurationError(f"{conflicts[0]}{more}; pass --force to overwrite, or write "
                                 "elsewhere with --out/--html")
    return [o.write() for o in outputs]


def relative_store(store_folder: Path, root: Path) -> str:
    """The store's folder as seen from ``root`` (a relative POSIX path), so that a clone of
    the repository anywhere gives the same marker."""
    return Path(os.path.relpath(store_folder.resolve(), root.resolve())).as_posix()


def build(infos: list[TaskInfo], *, results_dir=None, out_dir, html_dir=None,
          budget: str | None = None, others: Iterable[TaskInfo] = ()) -> list[Output]:
    """The leaderboards of ``infos`` (Markdown, CSV, figures and plots under ``out_dir``;
    with ``html_dir`` the HTML site there too), in memory. The site's index also lists the
    tasks of ``others`` whose pages are already in ``html_dir`` (so that rebuilding one task
    keeps the others in the index)."""
    store = ResultsStore(results_dir)
    out_dir = Path(out_dir)
    roots = [out_dir] + ([Path(html_dir)] if html_dir is not None else [])
    boards = []
    for info in infos:
        st = load_standings(info, results_dir=results_dir, budget=budget)
        figures = collect_figures(st, store.root, roots)
        boards.append(Board(info, st, figures, draw_plots(st)))
    out = Output(out_dir, relative_store(store.folder, out_dir))
    for board in boards:
        out.add(board_files(board, out.store), f"{board.task}.md")
        out.managed += managed_folders(board.task)
    outputs = [out]
    if html_dir is not None:
        html_dir = Path(html_dir)
        site = (out if html_dir.resolve() == out_dir.resolve()
                else Output(html_dir, relative_store(store.folder, html_dir)))
        listed = boards + [Board(info, st, [], {}) for info in others
                           if (html_dir / f"{info.name}.html").is_file()
                           and (st := _standings_or_none(info, results_dir, budget))]
        listed.sort(key=lambda b: b.task)
        for page, files in site_files(boards, site.store, index=listed).items():
            site.add(files, page)
        if site is not out:
            site.managed += [m for b in boards for m in managed_folders(b.task)]
            outputs.append(site)
    return outputs


def _standings_or_none(info: TaskInfo, results_dir, budget):
    try:
        return load_standings(info, results_dir=results_dir, budget=budget)
    except DataError:  # no runs of it (in this budget): not listed
        return None
