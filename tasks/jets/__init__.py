"""The jets task: N-subjettiness ratios of top-quark fat jets (Fast Perfekt paper, Sec. 4)."""

from perfekt_bench import hookimpl

from .task import JetsTask


@hookimpl
def perfekt_bench_register_tasks(registry):
    registry.add(JetsTask)
