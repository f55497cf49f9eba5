"""Built-in metrics (Fast Perfekt paper, Sec. 2.2 and Tables 1–2; FPD and KPD as in the CMS
FastSim refinement paper, Table 1), one plugin."""

from perfekt_bench import hookimpl

from .binned import Chi2PerNdof, Chi2Total
from .classifier import ClassifierJSD, ClassifierTwoSampleTest
from .closure import ClosurePull
from .correlation import ConditionalCorrelationDifference, CorrelationDifference
from .distribution import MMD, ConditionalMMD, OmniscientMMD, UnbiasedMMD
from .pairs import MeanSquaredError
from .physics_distance import FrechetPhysicsDistance, KernelPhysicsDistance
from .weights import EffectiveSampleSize

BUILTIN_METRICS = (MMD, UnbiasedMMD, OmniscientMMD, MeanSquaredError, Chi2PerNdof, Chi2Total,
                   CorrelationDifference, ConditionalCorrelationDifference, EffectiveSampleSize,
                   FrechetPhysicsDistance, KernelPhysicsDistance, ClassifierTwoSampleTest,
                   ClassifierJSD, ClosurePull, ConditionalMMD)

__all__ = [cls.__name__ for cls in BUILTIN_METRICS] + ["BUILTIN_METRICS"]


@hookimpl
def perfekt_bench_register_metrics(registry):
    for cls in BUILTIN_METRICS:
        registry.add(cls)
