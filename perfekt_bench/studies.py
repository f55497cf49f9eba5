"""Optuna studies for ``perfekt-bench tune``: storages, samplers and pruners, the trial budget
shared by many processes, and trials left behind by killed workers.

* **Storage.** By default one Optuna journal file, ``<results>/tuning/journal.log``
  (``JournalStorage`` with a ``JournalFileBackend``): many processes on one machine, no server.
  ``--storage`` takes another journal file path, or any SQLAlchemy URL (``sqlite:///f.db``,
  ``postgresql://user@host/db``) for workers on many machines.
* **The trial budget.** A worker asks for a new trial only while fewer than N trials are
  complete, pruned or running, and it counts and asks under a file lock in the study folder,
  so processes on one machine never overshoot N; rerunning a command continues a study up to N.
  Workers on several machines sharing an RDB study may overshoot by a trial per machine.
* **Killed workers.** A trial records its worker (host, process id and start time) and a
  heartbeat every :data:`HEARTBEAT_SECONDS`. Before each new trial a worker marks failed every
  running trial whose process is gone (on its own host) or whose heartbeat is older than
  :data:`GRACE_SECONDS` (another host's), so a worker killed with SIGKILL leaves its trial
  failed and the study goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

HEARTBEAT_SECONDS = 30.0
#: a running trial of another host without a heartbeat for this long is taken as abandoned
GRACE_SECONDS = 120.0
JOURNAL_FILE = "journal.log"
PRUNERS = ("median", "hyperband", "none")
#: MedianPruner: trials finished before pruning starts, and epochs before a trial can be pruned
MEDIAN_STARTUP_TRIALS = 4
MEDIAN_WARMUP_EPOCHS = 5
#: HyperbandPruner: the fewest epochs a trial runs, and the factor between its brackets
HYPERBAND_MIN_EPOCHS = 3
HYPERBAND_REDUCTION = 3
#: the attribute that holds what a study was started with (``tune`` refuses to mix setups)
SETUP_ATTR = "perfekt_bench_setup"


def tuning_root(results_dir: str | os.PathLike | None) -> Path:
    """``<results>/tuning``: the default journal and one folder per study."""
    from .results import results_root

    return results_root(results_dir) / "tuning"


def study_folder(results_dir: str | os.PathLike | None, study: str) -> Path:
    """Where a study's JSON, figures and lock live."""
    return tuning_root(results_dir) / re.sub(r"[^A-Za-z0-9._+-]+", "_", study)


def is_url(storage: str) -> bool:
    return "://" in storage


def storage_label(storage: str) -> str:
    """The storage as it may be printed and written down: a URL without its password."""
    if not is_url(storage):
        return storage
    try:
        from sqlalchemy.engine import make_url

        return make_url(storage).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: say nothing of its parts
        return storage.split("://", 1)[0] + "://…"


def default_storage(results_dir: str | os.PathLike | None) -> str:
    return str(tuning_root(results_dir) / JOURNAL_FILE)


def open_storage(storage: str) -> Any:
    """An Optuna storage: an RDB storage for a URL, else a journal file at the path."""
    import optuna

    if is_url(storage):
        try:
            return _open_database(storage)
        except ImportError as exc:
            raise ConfigurationError(
                f"--storage {storage_label(storage)}: SQLAlchemy needs a database driver that "
                f"is not installed ({exc}); for PostgreSQL: pip install psycopg2-binary"
            ) from exc
        except Exception as exc:  # SQLAlchemy's errors for bad URLs and unreachable servers
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigurationError(
                f"--storage {storage_label(storage)}: cannot open it: {first}") from exc
    path = Path(storage)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
    except OSError as exc:
        raise ConfigurationError(f"--storage {storage}: cannot open the journal file: "
                                 f"{exc}") from exc
    return optuna.storages.journal.JournalStorage(backend)


#: how often opening a new database is retried when another process creates its tables too
SCHEMA_RACE_TRIES = 6


def _open_database(url: str) -> Any:
    """``RDBStorage`` on ``url``, retried while other processes create the same new database's
    tables: Optuna creates them and stamps the schema version unguarded, so two commands opening
    a new database at once fail half the time with "table … already exists" or a unique
    constraint on ``alembic_version`` (optuna/optuna#1092, #4621). A retry finds the tables the
    winner made."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    attempt = 0
    while True:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (IntegrityError, OperationalError, ProgrammingError) as exc:
            attempt += 1
            message = str(exc)
            raced = (isinstance(exc, IntegrityError) or "already exists" in message
                     or "database is locked" in message)
            if not raced or attempt == SCHEMA_RACE_TRIES:
                raise
            time.sleep(0.1 * 2**attempt)


def sampler(seed: int, worker: int, existing: int, trials: int) -> Any:
    """TPE (multi-objective TPE for several objectives), seeded from ``seed``, the worker's
    index and the number of trials the study already has, so that parallel workers and
    resumed runs do not repeat each other's random start. The random start is a quarter of
    the trial budget (at least 4, at most Optuna's default 10)."""
    import numpy as np
    import optuna

    derived = int(np.random.SeedSequence([seed, worker, existing]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=derived,
                                      n_startup_trials=min(10, max(4, trials // 4)))


def pruner(name: str, multi_objective: bool) -> Any:
    """Optuna's pruner by name (a multi-objective study cannot prune: none)."""
    import optuna

    if name not in PRUNERS:
        raise ConfigurationError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")
    if multi_objective or name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                           n_warmup_steps=MEDIAN_WARMUP_EPOCHS)
    return optuna.pruners.HyperbandPruner(min_resource=HYPERBAND_MIN_EPOCHS,
                                          reduction_factor=HYPERBAND_REDUCTION)


def open_study(name: str, storage: Any, directions: Sequence[str], setup: dict[str, Any], *,
               sampler: Any = None, pruner: Any = None, metric_names: Sequence[str] = ()
               ) -> Any:
    """Create the study, or load it when it exists; an existing study must have been started
    with the same ``setup`` (task, refiner, budget, data, objectives, fixed values, seed), else
    a :class:`ConfigurationError` names what differs."""
    import warnings

    import optuna

    study = optuna.create_study(study_name=name, storage=storage, directions=list(directions),
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    setup = json.loads(json.dumps(setup))  # as it reads back from any storage
    stored = study.user_attrs.get(SETUP_ATTR)
    if stored is None:
        study.set_user_attr(SETUP_ATTR, setup)
        if len(directions) > 1 and metric_names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(list(metric_names))
    elif stored != setup:
        differ = sorted(k for k in set(stored) | set(setup) if stored.get(k) != setup.get(k))
        shown = "; ".join(f"{k}: {stored.get(k)!r} then, {setup.get(k)!r} now" for k in differ)
        raise ConfigurationError(
            f"study {name!r} was started with other settings ({shown}); continue it with the "
            "same ones, or start another study with --study NAME")
    return study


# -- counting trials -----------------------------------------------------------------------


def counts(study: Any) -> dict[str, int]:
    """The study's trials by state (lower-case state names)."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        key = trial.state.name.lower()
        out[key] = out.get(key, 0) + 1
    return out


def finished(study: Any) -> int:
    """Trials that count as done: complete or pruned (failed ones are replaced)."""
    c = counts(study)
    return c.get("complete", 0) + c.get("pruned", 0)


def in_budget(study: Any) -> int:
    """Trials that use up the budget: complete, pruned, running or waiting."""
    c = counts(study)
    return sum(c.get(k, 0) for k in ("complete", "pruned", "running", "waiting"))


@contextlib.contextmanager
def budget_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock of the study folder (an ``flock`` on ``ask.lock``), held while a
    worker counts the trials and asks for one, so that processes on one machine never start
    more than the budget. Without ``fcntl`` (not POSIX) there is no lock."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(folder / "ask.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- workers and their trials --------------------------------------------------------------


def host_id() -> str:
    """This machine: its host name and, where Linux says, its boot id."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}" if boot else socket.gethostname()


def _process_start(pid: int) -> str | None:
    """The start time of a living process (Linux: /proc), None when it is gone or a zombie;
    "?" where /proc cannot tell (then only its existence is checked)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    except OSError:
        return "?"
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def worker_identity() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": host_id(), "pid": pid, "started": _process_start(pid)}


def trial_is_stale(trial: Any, now: float, here: str) -> bool:
    """Whether a running trial was abandoned: its worker's process is gone (same host), or
    its last heartbeat is older than :data:`GRACE_SECONDS` (another host, or no worker
    recorded)."""
    worker = trial.user_attrs.get("worker")
    if worker and worker.get("host") == here:
        current, recorded = _process_start(int(worker["pid"])), worker.get("started")
        if current is None:
            return True
        return current != "?" and recorded not in (None, "?") and recorded != current  # reused
    last = trial.user_attrs.get("heartbeat")
    if last is None and trial.datetime_start is not None:
        last = trial.datetime_start.timestamp()
    return last is not None and now - float(last) > GRACE_SECONDS


def fail_stale_trials(study: Any) -> list[int]:
    """Mark every abandoned running trial failed; their numbers."""
    from optuna.trial import TrialState

    here, now, failed = host_id(), time.time(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial_is_stale(trial, now, here):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    return failed


@contextlib.contextmanager
def heartbeat(trial: Any, interval: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Record the time in the trial every ``interval`` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a missed beat is harmless
                trial.set_user_attr("heartbeat", time.time())

    trial.set_user_attr("heartbeat", time.time())
    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
