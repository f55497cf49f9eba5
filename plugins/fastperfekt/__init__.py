"""Fast Perfekt refiners (SciPost Phys. Core 8, 021 (2025)) and the residual network they share."""

from perfekt_bench import hookimpl

from .refiners import (
    CMSMDMMRefiner,
    HuberMMDRefiner,
    MSERefiner,
    OneStageRefiner,
    TwoStageCondRefiner,
    TwoStageRefiner,
)
from .training import NetworkRefiner

BUILTIN_REFINERS = (MSERefiner, OneStageRefiner, TwoStageRefiner, TwoStageCondRefiner,
                    HuberMMDRefiner, CMSMDMMRefiner)

__all__ = [cls.__name__ for cls in BUILTIN_REFINERS] + ["BUILTIN_REFINERS", "NetworkRefiner"]


@hookimpl
def perfekt_bench_register_refiners(registry):
    for cls in BUILTIN_REFINERS:
        registry.add(cls)
