"""A finished run's refiner, loaded back exactly as the run evaluated it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError
from .rundir import MODEL, read_config
from .transformed import TransformedRefiner, saved_transform

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .refiner import Refiner


def load_refiner(run_dir: str | Path, *, host: PluginHost | None = None) -> Refiner:
    """The fitted refiner of the run in ``run_dir``, with the task's pre/post-processing when
    the run learnt through it, so that ``load_refiner(run_dir).refine(x_fast, g)`` gives the
    refined values the run evaluated.

    The refiner's class (and the task's transform) come from the installed plugins; a folder
    that is not a run, or a run whose plugin is not installed, is a clear error.
    """
    from .plugins import default_host

    host = host or default_host()
    run_dir = Path(run_dir)
    config = read_config(run_dir, required=True)
    model = run_dir / MODEL
    if not model.is_dir():
        raise DataError(f"{run_dir} has no saved model ({model} is missing)")
    for key in ("task", "refiner"):
        if not isinstance(config.get(key), str):
            raise DataError(f"{run_dir / 'config.json'} names no {key}")
    cls = host.refiner_class(config["refiner"])
    saved = saved_transform(model)
    if saved is None:
        return cls.load(model)
    transform = host.task(config["task"]).feature_transform()
    if transform is None:
        raise DataError(f"{run_dir} was fitted through the transform {saved!r}, but task "
                        f"{config['task']!r} offers none in this installation")
    return TransformedRefiner.load(model, refiner_class=cls, transform=transform)
