"""A template perfekt-bench plugin: one refiner and one metric, registered by hooks."""

from perfekt_bench import hookimpl

from .metric import KolmogorovSmirnov
from .refiner import MomentMatching

__all__ = ["KolmogorovSmirnov", "MomentMatching"]


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(MomentMatching)


@hookimpl
def perfekt_bench_register_metrics(registry):
    registry.add(KolmogorovSmirnov)
