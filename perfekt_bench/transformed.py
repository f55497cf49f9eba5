"""A refiner that learns through a task's pre- and post-processing (:mod:`.transform`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .data import Triplets
from .errors import DataError, IncompatibleError
from .refiner import Refinement, Refiner
from .training import EpochReport
from .transform import FeatureTransform

TRANSFORM_FILE = "transform.json"


class TransformedRefiner(Refiner):
    """A refiner that learns in a task's transformed coordinates (scikit-learn's
    ``TransformedTargetRegressor`` pattern): ``fit`` sees :meth:`FeatureTransform.apply`'d
    splits, ``refine`` returns ``inverse_x`` of the wrapped refiner's output; weights pass
    through unchanged. Hyperparameters, history and the fitted state are the wrapped refiner's.
    """

    def __init__(self, refiner: Refiner, transform: FeatureTransform):
        self.refiner = refiner
        self.transform = transform

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.refiner.name

    @property
    def needs_pairs(self) -> bool:  # type: ignore[override]
        return self.refiner.needs_pairs

    @property
    def outputs_weights(self) -> bool:  # type: ignore[override]
        return self.refiner.outputs_weights

    @property
    def history_(self) -> list[dict[str, float]]:
        return getattr(self.refiner, "history_", [])

    def get_params(self) -> dict[str, Any]:
        return self.refiner.get_params()

    def set_params(self, **params: Any) -> TransformedRefiner:
        self.refiner.set_params(**params)
        return self

    def fit(self, train: Triplets, validation: Triplets, *, progress: bool = False,
            report: EpochReport | None = None):
        """Fit the wrapped refiner on transformed splits, passing ``report`` on when it takes
        one (a refiner without epochs need not)."""
        extra = {"report": report} if report is not None and self.refiner.reports_epochs() else {}
        self.refiner.fit(self.transform.apply(train), self.transform.apply(validation),
                         progress=progress, **extra)
        return self

    def reports_epochs(self) -> bool:
        return self.refiner.reports_epochs()

    def refine(self, x_fast: np.ndarray, g: np.ndarray) -> Refinement:
        """The wrapped refiner's output mapped back; a row it left exactly as it was comes
        back bit-identical to the input (no inverse-transform rounding), so a refiner that
        moves nothing gives fastsim exactly."""
        x_fast = np.asarray(x_fast)
        z = self.transform.forward_x(x_fast)
        inner = self.refiner.refine(z, self.transform.forward_g(np.asarray(g)))
        x = np.asarray(self.transform.inverse_x(inner.x), dtype=np.float32)
        # compared in float32, the precision refiners compute in (and the exported graph)
        unchanged = np.all(np.asarray(inner.x, np.float32) == np.asarray(z, np.float32), axis=1)
        if unchanged.any():
            x[unchanged] = x_fast[unchanged]
        return Refinement(x, inner.weight)

    def export_module(self):
        """The transform's torch modules around the wrapped refiner's module, in the
        precision of :meth:`refine`: pre- and post-processing in float64, the refiner in
        float32; weights pass through untransformed."""
        modules = self.transform.torch_modules()
        if modules is None:
            raise IncompatibleError(
                f"refiner {self.name!r} learnt through the transform {self.transform.name!r}, "
                "which offers no torch modules (FeatureTransform.torch_modules): it cannot be "
                "exported to ONNX")
        return _transformed_module(*modules, self.refiner.export_module(),
                                   weights=self.outputs_weights)

    def save(self, folder: str | Path) -> None:
        """The wrapped refiner's files, and ``transform.json`` naming the transform."""
        self.refiner.save(folder)
        (Path(folder) / TRANSFORM_FILE).write_text(json.dumps({"transform":
                                                               self.transform.name}))

    @classmethod
    def load(cls, folder: str | Path, *, refiner_class: type[Refiner] | None = None,
             transform: FeatureTransform | None = None) -> TransformedRefiner:
        """The wrapped refiner loaded by ``refiner_class``, around ``transform``, which must
        be the one named in ``transform.json`` (else a :class:`DataError`)."""
        if refiner_class is None or transform is None:
            raise TypeError("TransformedRefiner.load needs refiner_class= and transform= "
                            "(perfekt_bench.load_refiner(RUN_DIR) finds both)")
        folder = Path(folder)
        saved = saved_transform(folder)
        if saved != transform.name:
            raise DataError(f"{folder / TRANSFORM_FILE} names the transform {saved!r}, "
                            f"not {transform.name!r}")
        return cls(refiner_class.load(folder), transform)

    def __repr__(self) -> str:
        return f"TransformedRefiner({self.refiner!r}, {self.transform.name!r})"


def _transformed_module(pre, post, inner, *, weights: bool):
    """post(inner(pre(x, g))) as one torch module (built on demand: it needs torch)."""
    from torch import nn

    class Transformed(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre, self.inner, self.post = pre, inner, post

        def forward(self, x_fast, g):
            import torch

            x, g = self.pre(x_fast.double(), g.double())
            z = x.float()
            out = self.inner(z, g.float())
            if weights:
                return out
            refined = self.post(out.double()).float()
            unchanged = (out == z).all(dim=1, keepdim=True)  # as refine(): exact pass-through
            return torch.where(unchanged, x_fast, refined)

    return Transformed().eval()


def saved_transform(folder: str | Path) -> str | None:
    """The name in ``folder/transform.json``, or None when the model was saved untransformed."""
    path = Path(folder) / TRANSFORM_FILE
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text())["transform"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
