"""The deepjet task: DeepJet flavour-tag discriminators (CMS FastSim refinement paper)."""

from perfekt_bench import hookimpl

from .task import DeepJetTask


@hookimpl
def perfekt_bench_register_tasks(registry):
    registry.add(DeepJetTask)
