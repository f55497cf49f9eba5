"""The analytic task: the Gaussian mixture of the Fast Perfekt paper (Sec. 3, Table 1)."""

from perfekt_bench import hookimpl

from .generation import PARAMETERS
from .task import FULLSIM_TEMPLATES, AnalyticMixture, small_population_fraction

__all__ = ["FULLSIM_TEMPLATES", "PARAMETERS", "AnalyticMixture", "small_population_fraction"]


@hookimpl
def perfekt_bench_register_tasks(registry):
    registry.add(AnalyticMixture)
