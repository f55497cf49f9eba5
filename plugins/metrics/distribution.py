"""MMD metrics: the refined features alone, and the omniscient set with hidden features."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue, Sample, batched


def mmd_value(a: np.ndarray, b: np.ndarray, bandwidths: np.ndarray, *, unbiased: bool = False,
              a_weights: np.ndarray | None = None) -> float:
    """MMD between two small arrays in float64 (Fast Perfekt eqs. 1–3)."""
    import torch

    from perfekt_bench.mmd import mmd

    to = lambda v: None if v is None else torch.as_tensor(np.asarray(v, dtype=np.float64))  # noqa: E731
    with torch.no_grad():
        value = mmd(to(a), to(b), to(bandwidths), unbiased=unbiased, x_weights=to(a_weights))
    return float(value)


#: the "log10" transform reads values below this as this (a massless one-particle jet would
#: otherwise give −inf): 1e-3 in the task's units, an MeV for masses in GeV
LOG10_FLOOR = 1e-3


def omniscient_columns(sample: Sample, settings) -> np.ndarray:
    """The omniscient set (g, x and hidden columns) with the task's transforms applied."""
    return yardstick_columns(sample, settings.omniscient)


def yardstick_columns(sample: Sample, columns) -> np.ndarray:
    """The values of a set of :class:`~perfekt_bench.OmniscientColumn` for ``sample``: each
    column transformed, then the conditioning column it names in ``minus`` subtracted."""
    out = []
    for col in columns:
        index = sample.names.of_group(col.group).index(col.name)
        values = sample.columns(col.group)[:, index].astype(np.float64)
        if col.transform == "log10":
            values = np.log10(np.maximum(values, LOG10_FLOOR))
        elif col.transform is not None:
            raise ValueError(f"unknown omniscient transform {col.transform!r}")
        if col.minus is not None:
            values = values - sample.g[:, sample.names.g.index(col.minus)].astype(np.float64)
        out.append(values)
    return np.column_stack(out)


class MMD(Metric):
    """Biased MMD_b of the refined features against fullsim (paper eq. 1), ± spread over batches."""

    name = "mmd"
    unbiased = False

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        bandwidths = np.asarray(settings.mmd_bandwidths, dtype=np.float64)
        return batched(lambda c, r: mmd_value(c.x, r.x, bandwidths, unbiased=self.unbiased,
                                              a_weights=c.weight),
                       candidate, reference, batch_size=settings.batch_size)


class UnbiasedMMD(MMD):
    """Unbiased MMD_u of the refined features (paper eq. 3): 0 in expectation when equal."""

    name = "mmd_u"
    unbiased = True


class OmniscientMMD(Metric):
    """Biased MMD over conditioning, refined and hidden features (paper Sec. 2.2)."""

    name = "omniscient_mmd"
    needs_hidden = True

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        bandwidths = settings.omniscient_bandwidths()
        return batched(lambda c, r: mmd_value(omniscient_columns(c, settings),
                                              omniscient_columns(r, settings), bandwidths,
                                              a_weights=c.weight),
                       candidate, reference, batch_size=settings.batch_size)


class ConditionalMMD(Metric):
    """Biased MMD over the task's conditional set: the conditioning with the refined features
    or, where they measure the same quantities, with the detector response x − g
    (``EvaluationSettings.conditional``), ± spread over batches.

    The omniscient MMD spreads its kernel over the marginal width of every column, hidden ones
    included, so a refinement that puts each object too close to its GEN value (the spread of
    x at fixed g too small, the marginal right) hardly moves it. Here the response columns'
    bandwidths are the reference's own spread of x − g (the Fast Perfekt median rule applied to
    fullsim's response), the scale at which that failure shows. Narrowing the omniscient set's
    bandwidths instead does not work: a kernel that narrow in nine dimensions is dominated by
    its diagonal (README, "Metrics"). Measured on tasks that publish a conditional set.
    """

    name = "cond_mmd"
    summary = "MMD over the conditioning and the response x − g (or x), conditional widths"

    def applies_to(self, task) -> bool:
        return super().applies_to(task) and bool(task.evaluation().conditional)

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue | None:
        if not settings.conditional:
            return None
        bandwidths = settings.conditional_bandwidths()
        return batched(lambda c, r: mmd_value(yardstick_columns(c, settings.conditional),
                                              yardstick_columns(r, settings.conditional),
                                              bandwidths, a_weights=c.weight),
                       candidate, reference, batch_size=settings.batch_size)
