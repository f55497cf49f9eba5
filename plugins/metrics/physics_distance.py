"""Fréchet and Kernel Physics Distances, computed by jetnet's own functions.

FPD and KPD are defined by R. Kansal et al., "Evaluating generative models in high energy
physics", Phys. Rev. D 107, 076017 (2023), arXiv:2211.10295, and implemented in the JetNet
package (``jetnet.evaluation.fpd`` / ``kpd``, jetnet 0.2.5). The CMS FastSim refinement paper
(Bein et al., "Refining fast simulation using machine learning", EPJ Web Conf. 295, 09032
(2024), Sec. 4 and Table 1) quotes both, in units of 10⁻³, on the four DeepJet discriminators
(not logit-transformed) for FastSim, refined FastSim and a second FullSim half against FullSim:
exactly the three candidates of a perfekt-bench run.

jetnet is imported only when a value is computed: it pulls torch, energyflow and numba, and
numba compiles KPD's kernel on the first call of each process (a few seconds).
"""

from __future__ import annotations

import abc
import warnings
from typing import ClassVar

import numpy as np

from perfekt_bench import ConfigurationError, IncompatibleError, Metric, MetricValue

#: the warning jetnet's fpd gives for samples of fewer than 50 000 objects
SMALL_SAMPLE_WARNING = "Recommended number of samples for FPD estimation"


def import_jetnet_evaluation():
    """``jetnet.evaluation``, or a :class:`ConfigurationError` that says how to fix the install.

    jetnet → energyflow → wasserstein: beside numpy 2 a resolver picks wasserstein 1.0.1,
    whose extension is compiled for numpy 1, and the import fails with "numpy.core.multiarray
    failed to import".
    """
    try:
        import jetnet.evaluation
    except ImportError as exc:
        raise ConfigurationError(
            f"the fpd and kpd metrics need jetnet.evaluation, which cannot be imported ({exc}). "
            "The usual cause is wasserstein 1.0.1, compiled for numpy 1, which pip picks beside "
            "numpy 2; fix it with `pip install --no-deps wasserstein==1.1.0` (its metadata "
            "pins numpy<2, so no resolver chooses it, yet it imports and computes correctly "
            "with numpy 2). Without jetnet at all, `pip install jetnet` first. See the README's "
            "set-up, or name the metrics to run with --metric."
        ) from exc
    return jetnet.evaluation


class PhysicsDistance(Metric):
    """Common ground of FPD and KPD: which tasks, which arrays, which seed.

    jetnet's functions run with their default settings on ``candidate.x`` (generated) against
    ``reference.x`` (real), both cast to float64 (one numba specialisation per process). jetnet
    divides both by the real sample's per-feature maximum absolute value. Its batches are drawn
    *with replacement*, so halves smaller than a batch (FPD's 20 000–50 000, KPD's 5 000) are
    bootstrapped: the value then estimates the distance between the two finite samples, whose
    own statistical floor is what the fullsim candidate (an independent FullSim half) shows.

    jetnet takes no weights. A weighted candidate is replaced by a resample of its own size,
    drawn with replacement with probabilities w/Σw (``numpy.random.Generator.choice``, seed
    ``SEED``). Weights that are not all finite give NaN ± NaN, as every weighted metric does
    (``n_eff`` reports them too); negative weights, or a sum that is not positive, are no
    sampling distribution and raise :class:`IncompatibleError`.
    """

    #: jetnet's default seed, passed explicitly; also seeds the resample of weighted candidates
    SEED: ClassVar[int] = 42
    #: measured only on tasks that list it in ``EvaluationSettings.opt_in_metrics``: KPD costs
    #: ~10 s per candidate whatever the sample size (10 batches of 5 000 with replacement), so
    #: only a task whose paper quotes FPD and KPD (deepjet) pays for them
    opt_in = True

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        jetnet_evaluation = import_jetnet_evaluation()
        generated = self.generated_features(candidate)
        if generated is None:
            return MetricValue(float("nan"), float("nan"))
        real = np.asarray(reference.x, dtype=np.float64)
        value, error = self.distance(jetnet_evaluation, real, generated)
        return MetricValue(float(value), float(error))

    def generated_features(self, candidate) -> np.ndarray | None:
        """``candidate.x`` in float64, resampled by weight where it has weights; ``None``
        where the weights are not all finite."""
        x = np.asarray(candidate.x, dtype=np.float64)
        if candidate.weight is None:
            return x
        w = np.asarray(candidate.weight, dtype=np.float64)
        if not np.isfinite(w).all():
            return None
        n_negative, total = int((w < 0).sum()), float(w.sum())
        if n_negative or total <= 0:
            raise IncompatibleError(
                f"{self.name} resamples a weighted candidate with probabilities w/Σw, which needs "
                f"non-negative weights with a positive sum; got {n_negative} negative weights "
                f"of {len(w)}, Σw = {total:g}. Name the metrics to run with --metric."
            )
        rng = np.random.default_rng(self.SEED)
        return x[rng.choice(len(x), size=len(x), p=w / total)]

    @abc.abstractmethod
    def distance(self, jetnet_evaluation, real: np.ndarray,
                 generated: np.ndarray) -> tuple[float, float]:
        """jetnet's (value, error) of ``generated`` against ``real``."""


class FrechetPhysicsDistance(PhysicsDistance):
    """Fréchet Physics Distance (arXiv:2211.10295 Sec. 4; ``jetnet.evaluation.fpd``).

    The Fréchet distance between Gaussians fitted to the two samples, measured on 20 batches
    at each of 10 batch sizes spaced evenly in 1/N from 20 000 to 50 000 and extrapolated to
    N → ∞ by a linear fit in 1/N (intercept bounded to ≥ 0); the error is the fit's error on
    the intercept. jetnet's RuntimeWarning that fewer than 50 000 objects were given is
    suppressed: the halves of a run are smaller, and are bootstrapped (see the base class).
    """

    name = "fpd"
    summary = "Fréchet Physics Distance of the refined features (jetnet; arXiv:2211.10295)"

    def distance(self, jetnet_evaluation, real, generated):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SMALL_SAMPLE_WARNING,
                                    category=RuntimeWarning)
            return jetnet_evaluation.fpd(real, generated, seed=self.SEED)


class KernelPhysicsDistance(PhysicsDistance):
    """Kernel Physics Distance (arXiv:2211.10295 Sec. 4; ``jetnet.evaluation.kpd``).

    The unbiased quadratic MMD estimate with the polynomial kernel k(x, y) = (x·y/d + 1)⁴,
    measured on 10 batches of 5 000 objects; the value is the median, the error half the
    16–84 % inter-quantile range. 0 in expectation for equal distributions, so it can be
    negative.
    """

    name = "kpd"
    summary = "Kernel Physics Distance of the refined features (jetnet; arXiv:2211.10295)"

    def distance(self, jetnet_evaluation, real, generated):
        return jetnet_evaluation.kpd(real, generated, seed=self.SEED)
