"""FPD and KPD (jetnet, arXiv:2211.10295) as the runner pays for them: one candidate of 30 000 × 4.

Run with ``pytest benchmarks/test_bench_physics_distance.py --benchmark-only``. Both cost the
same whatever the sample size: jetnet draws fixed-size batches with replacement (FPD 200
batches of 20 000–50 000, KPD 10 batches of 5 000). One warm-up round takes numba's compilation
of KPD's kernel (a few seconds, once per process) out of the timings.
"""

from __future__ import annotations

import numpy as np
import pytest

from perfekt_bench import FeatureNames, Sample
from perfekt_bench_plugins.metrics import FrechetPhysicsDistance, KernelPhysicsDistance

N, D = 30_000, 4
NAMES = FeatureNames(g=("g",), x=tuple(f"x{i}" for i in range(D)), h=())
METRICS = {"fpd": FrechetPhysicsDistance, "kpd": KernelPhysicsDistance}


def make_sample(seed: int, shift: float = 0.0) -> Sample:
    rng = np.random.default_rng(seed)
    x = np.clip(rng.beta(2.0, 5.0, (N, D)) + shift, 0.0, 1.0).astype(np.float32)
    return Sample(np.zeros((N, 1), np.float32), x, np.zeros((N, 0), np.float32), NAMES)


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", list(METRICS))
def test_physics_distance(benchmark, name):
    metric = METRICS[name]()
    candidate, reference = make_sample(1, shift=0.02), make_sample(2)
    benchmark.group = f"physics distance {N}x{D}"

    def compute():
        return metric.compute(candidate, reference, settings=None)

    value = benchmark.pedantic(compute, rounds=3, iterations=1, warmup_rounds=1)
    assert np.isfinite(value.value) and value.error >= 0
