"""Fast Perfekt refiners (SciPost Phys. Core 8, 021 (2025)) and the residual network they share."""

from perfekt_bench import hookimpl

from .refiners import MSERefiner
from .training import NetworkRefiner

__all__ = ["MSERefiner", "NetworkRefiner"]


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(MSERefiner)
