"""PYTHIA 8 tt̄ events → GEN, fullsim and fastsim fat jets, in resumable Parquet parts.

    arrays = generate(n_jets, seed, workers=1, workdir=None, progress=False)
    # {"g": (n, 3), "x_full": (n, 3), "x_fast": (n, 3), "h_full": (n, 6), "h_fast": (n, 6)}

The work is cut into parts of :data:`EVENTS_PER_PART` events. Part ``i`` is a function of
``(seed, i)`` only: its PYTHIA seed and the fullsim and fastsim detector generators come from
``numpy.random.default_rng([seed, i, k])`` (:func:`part_seeds`), and PYTHIA is initialised afresh
for every part. So the jets of a seed do not depend on the number of workers, and a run that was
interrupted resumes from the parts already on disk (``workdir/part-000123.parquet``, each written
to a temporary name and renamed) and ends with the same arrays as an uninterrupted one.

Per event (:func:`event_rows`, Fast Perfekt paper Sec. 4): the visible final-state particles are
clustered into GEN fat jets; the event goes through the nominal CMS card (fullsim) and the
flawed card (fastsim) with independent random streams; the reco fat jets of each side are
matched to the GEN jets by direction, and the GEN jets matched on both sides give one row:
``g`` the GEN τ ratios (β = 1.0), ``x_full`` / ``x_fast`` the reco τ ratios (β = 1.0 / 0.9) and
``h_full`` / ``h_fast`` the hidden observables (:data:`~.definitions.H_NAMES`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import queue
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfekt_bench.errors import ConfigurationError, DataError

from . import detector as _detector
from . import jets as _jets
from .definitions import (
    BETA_FAST,
    BETA_FULL,
    BETA_GEN,
    G_NAMES,
    GEN_PTMIN,
    H_NAMES,
    INVISIBLE_PIDS,
    NEIGHBOUR_PTMIN,
    RECO_PTMIN,
    X_NAMES,
)
from .particles import Particles

#: PYTHIA 8 settings of every part (the seed is added per part): boosted tt̄ at 13 TeV with full
#: hadronisation; pT̂ > 400 GeV makes fat jets above 200 GeV plentiful. Part of the data card.
PYTHIA_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 13000.",
    "Top:gg2ttbar = on",
    "Top:qqbar2ttbar = on",
    "PhaseSpace:pTHatMin = 400.",
    "Print:quiet = on",
    "Next:numberCount = 0",
)
#: events per part: the unit of work, of parallelism and of resuming. PYTHIA's initialisation
#: (≈ 0.7 s) is paid once per part, so parts much smaller than this waste time on it.
EVENTS_PER_PART = 500
#: PYTHIA accepts seeds 1 … 900 000 000 (0 would mean "from the clock")
PYTHIA_MAX_SEED = 900_000_000
#: the arrays :func:`generate` returns and the feature names of their columns
COLUMNS: dict[str, tuple[str, ...]] = {
    "g": G_NAMES, "x_full": X_NAMES, "x_fast": X_NAMES, "h_full": H_NAMES, "h_fast": H_NAMES,
}
#: events PYTHIA hands over at once (one awkward array per batch)
_BATCH_EVENTS = 100
#: give up when this many events gave not a single matched jet
_MAX_EVENTS_WITHOUT_JETS = 20_000


# --------------------------------------------------------------------------- PYTHIA


def part_seeds(seed: int, part: int) -> tuple[int, np.random.Generator, np.random.Generator]:
    """The PYTHIA seed and the fullsim and fastsim generators of part ``part`` of ``seed``."""
    pythia_seed = 1 + int(np.random.default_rng([seed, part, 0]).integers(PYTHIA_MAX_SEED))
    return pythia_seed, np.random.default_rng([seed, part, 1]), np.random.default_rng(
        [seed, part, 2])


def pythia_events(pythia_seed: int, n_events: int, *,
                  settings: tuple[str, ...] = PYTHIA_SETTINGS) -> Iterator[Particles]:
    """``n_events`` PYTHIA events, each as its stable visible particles (neutrinos left out).

    ``pythia_seed`` is PYTHIA's own seed (1 … 900 000 000). The event record is read with
    ``Pythia.nextBatch`` (an awkward array per batch), so no Python loop runs over particles;
    charges come from PYTHIA's particle data, looked up once per PDG id.
    """
    if not 1 <= pythia_seed <= PYTHIA_MAX_SEED:
        raise ConfigurationError(f"PYTHIA seed {pythia_seed} is outside 1 … {PYTHIA_MAX_SEED}")
    import awkward as ak
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)  # no banner
    for line in (*settings, "Random:setSeed = on", f"Random:seed = {pythia_seed}"):
        if not pythia.readString(line):
            raise ConfigurationError(f"PYTHIA rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError("PYTHIA failed to initialise")
    charges: dict[int, int] = {}
    left = n_events
    while left > 0:
        run = pythia.nextBatch(min(left, _BATCH_EVENTS), "skip")  # failed events are retried
        if len(run) == 0:
            raise RuntimeError("PYTHIA failed to generate a batch of events")
        left -= len(run)
        prt = run.prt
        counts = ak.to_numpy(ak.num(prt))
        flat = ak.flatten(prt)
        status = ak.to_numpy(flat.status)
        pid = ak.to_numpy(flat.id).astype(np.int32)
        keep = (status > 0) & ~np.isin(np.abs(pid), INVISIBLE_PIDS)
        # selected rows of event k are sel[starts[k]:starts[k + 1]]
        starts = np.concatenate([[0], np.cumsum(keep)])[np.concatenate([[0], np.cumsum(counts)])]
        sel = np.flatnonzero(keep)
        mom = flat.p
        px, py, pz, e = (ak.to_numpy(getattr(mom, c))[sel].astype(np.float64)
                         for c in ("px", "py", "pz", "e"))
        pid = pid[sel]
        ids, inverse = np.unique(pid, return_inverse=True)
        for i in ids.tolist():
            if i not in charges:
                charges[i] = round(pythia.particleData.charge(i))
        charge = np.array([charges[i] for i in ids.tolist()], dtype=np.int8)[inverse]
        for a, b in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
            yield Particles(px[a:b], py[a:b], pz[a:b], e[a:b], pid[a:b], charge[a:b])


# --------------------------------------------------------------------------- one event


@functools.cache
def _paper_cards():
    """The nominal and flawed cards, built once per process (≈ 0.25 ms each, every event)."""
    return _detector.DetectorCard.cms(), _detector.DetectorCard.flawed()


def event_rows(gen: Particles, rng_full: np.random.Generator, rng_fast: np.random.Generator, *,
               full_card=None, fast_card=None, beta_gen: float = BETA_GEN,
               beta_full: float = BETA_FULL, beta_fast: float = BETA_FAST) -> dict[str, np.ndarray]:
    """The rows of one event: GEN fat jets matched to a fullsim and to a fastsim fat jet.

    ``full_card`` / ``fast_card`` default to ``DetectorCard.cms()`` / ``DetectorCard.flawed()``;
    the β of each level defaults to the paper's. Returns the :data:`COLUMNS` arrays, one row
    per kept GEN jet, in the GEN jets' pT order.
    """
    cms, flawed = _paper_cards()
    full_card = cms if full_card is None else full_card
    fast_card = flawed if fast_card is None else fast_card
    gen_jets = _jets.cluster(gen, ptmin=GEN_PTMIN)
    if not gen_jets:
        return _empty_rows()
    sides = []
    for card, rng, beta in ((full_card, rng_full, beta_full), (fast_card, rng_fast, beta_fast)):
        eflow = _detector.simulate(gen, card, rng)
        # the fat jets are the neighbour jets above RECO_PTMIN: anti-kT's inclusive jets do not
        # depend on the pT threshold, so one clustering serves both
        neighbours = _jets.cluster(eflow, ptmin=NEIGHBOUR_PTMIN)
        reco = [jet for jet in neighbours if jet.pt >= RECO_PTMIN]
        sides.append((_jets.match(gen_jets, reco), reco, neighbours, beta))
    (partner_full, *_), (partner_fast, *_) = sides
    kept = np.flatnonzero((np.asarray(partner_full) >= 0) & (np.asarray(partner_fast) >= 0))
    if kept.size == 0:
        return _empty_rows()
    rows: dict[str, list[np.ndarray]] = {key: [] for key in COLUMNS}
    for k in kept.tolist():
        jet = gen_jets[k]
        rows["g"].append(_jets.tau_ratios(_jets.nsubjettiness(jet.constituents, beta=beta_gen)))
        for name, (partner, reco, neighbours, beta) in zip(("full", "fast"), sides, strict=True):
            x, h = _jets.jet_features(reco[int(partner[k])], neighbours, beta=beta)
            rows[f"x_{name}"].append(x)
            rows[f"h_{name}"].append(h)
    return {key: np.asarray(rows[key], dtype=np.float64).reshape(-1, len(COLUMNS[key]))
            for key in COLUMNS}


def _empty_rows() -> dict[str, np.ndarray]:
    return {key: np.zeros((0, len(names))) for key, names in COLUMNS.items()}


# --------------------------------------------------------------------------- one part


@dataclass(frozen=True)
class Part:
    """One finished part: its index, rows, events and the seconds it took to generate."""

    index: int
    arrays: dict[str, np.ndarray]
    n_events: int
    seconds: float = 0.0

    @property
    def n_rows(self) -> int:
        return len(self.arrays["g"])


def make_part(seed: int, part: int, events_per_part: int = EVENTS_PER_PART) -> Part:
    """Generate part ``part`` of ``seed``: ``events_per_part`` events through :func:`event_rows`."""
    start = time.perf_counter()
    pythia_seed, rng_full, rng_fast = part_seeds(seed, part)
    rows = [event_rows(gen, rng_full, rng_fast)
            for gen in pythia_events(pythia_seed, events_per_part)]
    arrays = {key: np.concatenate([r[key] for r in rows]) if rows else _empty_rows()[key]
              for key in COLUMNS}
    return Part(part, arrays, events_per_part, time.perf_counter() - start)


def part_path(workdir: Path, part: int) -> Path:
    return Path(workdir) / f"part-{part:06d}.parquet"


def _identity(seed: int, events_per_part: int) -> dict:
    """What a part on disk must have been made with to be reused."""
    settings = hashlib.sha256("\n".join(PYTHIA_SETTINGS).encode()).hexdigest()[:16]
    return {"seed": seed, "events_per_part": events_per_part, "pythia_settings": settings}


def write_part(workdir: Path, part: Part, identity: dict) -> Path:
    """Write ``part`` atomically: to a temporary file in ``workdir``, then renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {f"{key}.{name}": pa.array(part.arrays[key][:, j], type=pa.float64())
               for key, names in COLUMNS.items() for j, name in enumerate(names)}
    meta = {**identity, "part": part.index, "n_events": part.n_events, "seconds": part.seconds}
    table = pa.table(columns).replace_schema_metadata({"perfekt_bench": json.dumps(meta)})
    path = part_path(workdir, part.index)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_part(workdir: Path, index: int, identity: dict) -> Part:
    """Read a part written by :func:`write_part`; one made differently is a :class:`DataError`."""
    import pyarrow.parquet as pq

    path = part_path(workdir, index)
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"perfekt_bench"])
        arrays = {key: np.column_stack([table.column(f"{key}.{n}").to_numpy() for n in names])
                  .astype(np.float64).reshape(-1, len(names)) for key, names in COLUMNS.items()}
    except Exception as exc:  # pyarrow raises several unrelated types for broken files
        raise DataError(f"cannot read generated part {path}: {exc}") from exc
    made_with = {k: meta.get(k) for k in identity}
    if made_with != identity or meta.get("part") != index:
        raise DataError(f"{path} was generated with {made_with}, not {identity}; "
                        "use another workdir or delete it")
    return Part(index, arrays, int(meta["n_events"]), float(meta.get("seconds", 0.0)))


def _part_to_file(seed: int, index: int, events_per_part: int, workdir: str) -> Part:
    """Worker task: make one part and write it; the written part is returned too."""
    part = make_part(seed, index, events_per_part)
    write_part(Path(workdir), part, _identity(seed, events_per_part))
    return part


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the parent alone handles it and ends the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --------------------------------------------------------------------------- driver


def generate(n_jets: int, seed: int, *, workers: int = 1, workdir: str | os.PathLike | None = None,
             progress: bool = False,
             events_per_part: int = EVENTS_PER_PART) -> dict[str, np.ndarray]:
    """``n_jets`` matched GEN / fullsim / fastsim jet triplets of ``seed`` (float64 arrays).

    Parts 0, 1, 2, … are made (by ``workers`` processes when above 1) until their jets, in part
    order, reach ``n_jets``; the concatenation is truncated to exactly ``n_jets`` rows. Parts
    already in ``workdir`` are read instead of made; ``workdir=None`` uses a temporary folder.
    ``progress`` shows a bar of jets on stderr with the event rate.
    """
    if int(n_jets) != n_jets or n_jets < 1:
        raise ConfigurationError(f"n_jets must be a positive integer, got {n_jets!r}")
    if int(seed) != seed or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    if int(workers) != workers or workers < 1:
        raise ConfigurationError(f"workers must be a positive integer, got {workers!r}")
    if int(events_per_part) != events_per_part or events_per_part < 1:
        raise ConfigurationError(f"events_per_part must be positive, got {events_per_part!r}")
    n_jets, seed, workers, events_per_part = map(int, (n_jets, seed, workers, events_per_part))
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="perfekt-bench-jets-") as tmp:
            return generate(n_jets, seed, workers=workers, workdir=tmp, progress=progress,
                            events_per_part=events_per_part)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _remove_stale(workdir)
    parts = _collect_parts(n_jets, seed, workers, workdir, progress, events_per_part)
    arrays = {key: np.concatenate([p.arrays[key] for p in parts])[:n_jets] for key in COLUMNS}
    validate(arrays, n_jets)
    return arrays


def validate(arrays: dict[str, np.ndarray], n_jets: int | None = None) -> None:
    """Shapes as :data:`COLUMNS` says, ``n_jets`` rows, finite values; else :class:`DataError`."""
    for key, names in COLUMNS.items():
        if key not in arrays:
            raise DataError(f"generated jets lack the {key!r} array")
        arr = arrays[key]
        rows = len(arrays["g"]) if n_jets is None else n_jets
        if arr.shape != (rows, len(names)):
            raise DataError(f"generated {key!r} has shape {arr.shape}, not {(rows, len(names))}")
        bad = ~np.isfinite(arr)
        for j in np.flatnonzero(bad.any(axis=0)).tolist():
            raise DataError(f"generated column {key}.{names[j]} has {int(bad[:, j].sum())} "
                            f"non-finite value(s) in {rows} jets")


class _InProcess:
    """The executor for ``workers=1``: runs a part when it is submitted."""

    def __init__(self, done: queue.Queue):
        self.done = done

    def submit(self, fn: Callable, args: tuple) -> None:
        self.done.put(fn(*args))

    def close(self) -> None:
        pass

    terminate = close


class _Pool:
    """A spawn-context process pool whose finished parts land in a queue (errors too)."""

    def __init__(self, done: queue.Queue, workers: int):
        import multiprocessing

        self.done = done
        self.pool = multiprocessing.get_context("spawn").Pool(workers, _ignore_sigint)

    def submit(self, fn: Callable, args: tuple) -> None:
        self.pool.apply_async(fn, args, callback=self.done.put, error_callback=self.done.put)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()

    def terminate(self) -> None:
        self.pool.terminate()
        self.pool.join()


def _collect_parts(n_jets: int, seed: int, workers: int, workdir: Path, progress: bool,
                   events_per_part: int) -> list[Part]:
    """Parts 0 … K in order, the fewest whose rows reach ``n_jets``: read or made."""
    from tqdm import tqdm

    identity = _identity(seed, events_per_part)
    done: dict[int, Part] = {}
    in_flight: set[int] = set()
    next_index = 0
    finished: queue.Queue = queue.Queue()
    executor: _InProcess | _Pool | None = None  # started at the first part to make
    bar = tqdm(total=n_jets, unit="jet", file=sys.stderr, disable=not progress, smoothing=0.1,
               dynamic_ncols=True, desc="jets")
    start, new_events = time.perf_counter(), 0

    def rows_done() -> int:
        return sum(p.n_rows for p in done.values())

    def enough() -> bool:  # the parts done without a gap from part 0 hold n_jets rows
        rows, index = 0, 0
        while index in done and rows < n_jets:
            rows, index = rows + done[index].n_rows, index + 1
        return rows >= n_jets

    def want_more() -> bool:
        if in_flight and len(in_flight) >= workers:
            return False
        events = sum(p.n_events for p in done.values())
        if not in_flight:
            return rows_done() < n_jets
        if events == 0:  # no estimate yet: keep every worker busy
            return True
        expected = rows_done() / events * events_per_part * len(in_flight)
        return rows_done() + expected < n_jets

    def add(part: Part) -> None:
        done[part.index] = part
        bar.update(min(part.n_rows, n_jets - bar.n))

    try:
        while not enough():
            while want_more():
                index, next_index = next_index, next_index + 1
                if part_path(workdir, index).exists():
                    add(read_part(workdir, index, identity))
                    continue
                if executor is None:
                    executor = _InProcess(finished) if workers == 1 else _Pool(finished, workers)
                in_flight.add(index)
                executor.submit(_part_to_file, (seed, index, events_per_part, str(workdir)))
            if not in_flight:
                continue
            result = _get(finished)
            if isinstance(result, BaseException):
                raise result
            in_flight.discard(result.index)
            add(result)
            new_events += result.n_events
            bar.set_postfix_str(f"{new_events / (time.perf_counter() - start):.1f} events/s",
                                refresh=True)
            if rows_done() == 0 and sum(p.n_events for p in done.values()) >= max(
                    _MAX_EVENTS_WITHOUT_JETS, events_per_part):
                raise DataError(f"{sum(p.n_events for p in done.values())} events gave no "
                                "matched fat jet; check the PYTHIA settings and jet cuts")
    except BaseException:
        if executor is not None:
            executor.terminate()
        raise
    else:
        if in_flight:  # parts still running are not needed: end them rather than wait
            executor.terminate()
        elif executor is not None:
            executor.close()
    finally:
        bar.close()
        _remove_stale(workdir)
    parts, rows = [], 0
    for index in sorted(done):
        if rows >= n_jets:
            break
        parts.append(done[index])
        rows += done[index].n_rows
    return parts


def _remove_stale(workdir: Path) -> None:
    """Delete the temporary files of parts whose writer was killed mid-write."""
    for stale in workdir.glob(".part-*.tmp"):
        stale.unlink(missing_ok=True)


def _get(finished: queue.Queue):
    """Wait for the next finished part, staying responsive to Ctrl-C."""
    while True:
        try:
            return finished.get(timeout=0.5)
        except queue.Empty:
            continue
