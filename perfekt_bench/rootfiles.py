"""Reading the user's ROOT files with uproot: what the Delphes and NanoAOD importers and
``perfekt-bench refine`` share.

Every failure is a :class:`~perfekt_bench.errors.DataError` that names the file: missing,
not ROOT, truncated (shorter than its header says), no such tree (the trees it has are listed),
not a TTree, or branches that cannot be read in a range of entries.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

from .errors import DataError


def open_file(path: Path, stack: ExitStack):
    """The ROOT file ``path`` opened by uproot, kept open by ``stack``."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    import uproot

    try:
        root = stack.enter_context(uproot.open(path))
    except Exception as err:
        raise DataError(f"{path}: not a readable ROOT file ({describe(err)})") from err
    size = path.stat().st_size
    end = getattr(root.file, "fEND", size)
    if size < end:
        raise DataError(f"{path}: truncated ROOT file: {size} bytes, its header says {end}")
    return root


def tree_keys(path: Path, tree: str) -> set[str]:
    """The branch names (nested ones too) of tree ``tree`` of the ROOT file ``path``; empty
    when it has no such tree or cannot be read (opening it again then says why)."""
    with ExitStack() as stack:
        try:
            root = open_file(path, stack)
            return set(root[tree].keys(recursive=True)) if tree in root else set()
        except Exception:  # a broken file: whoever opens it next says what is wrong
            return set()


def tree_names(root) -> list[str]:
    return [k for k, c in root.classnames(cycle=False).items() if c in ("TTree", "ROOT::RNTuple")]


def only_tree(path: Path, stack: ExitStack) -> str:
    """The name of the one tree of a ROOT file (a :class:`DataError` when it has several)."""
    trees = tree_names(open_file(path, stack))
    if len(trees) != 1:
        raise DataError(f"{path}: {len(trees)} trees ({', '.join(trees) or 'none'}); name the "
                        "one to read (--tree NAME)")
    return trees[0]


def open_tree(path: Path, tree: str, stack: ExitStack, *, kind: str | None = None):
    """The TTree ``tree`` of the ROOT file ``path``, kept open by ``stack``; ``kind`` names
    what the file should be ("NanoAOD", "Delphes output") in the message when it lacks it."""
    import uproot

    root = open_file(path, stack)
    try:
        if tree not in root:
            trees = tree_names(root)
            raise DataError(f"{path}: no tree {tree!r} (trees: {', '.join(trees) or 'none'})"
                            + (f"; is it {kind}?" if kind else ""))
        obj = root[tree]
        if not isinstance(obj, uproot.behaviors.TTree.TTree):
            raise DataError(f"{path}: {tree!r} is a {obj.classname}, not a TTree")
        return obj
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path}: corrupt or truncated ROOT file ({describe(err)})") from err


def read_arrays(path: Path, tree, branches: Sequence[str], start: int, stop: int):
    """Branches of entries ``start`` … ``stop - 1`` as one Awkward array."""
    try:
        return tree.arrays(list(branches), entry_start=start, entry_stop=stop, library="ak")
    except MemoryError:
        raise
    except Exception as err:
        raise DataError(f"{path}: cannot read branches {', '.join(branches)} in entries "
                        f"{start}–{stop - 1}; corrupt or truncated file? "
                        f"({describe(err)})") from err


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive ranges of ``size`` entries covering ``n``."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def describe(err: Exception) -> str:
    """An exception's type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def progress_bar(total: int, enabled: bool, desc: str):
    """A tqdm bar of events on stderr."""
    from tqdm import tqdm

    return tqdm(total=total, unit="event", desc=desc, file=sys.stderr, disable=not enabled)
