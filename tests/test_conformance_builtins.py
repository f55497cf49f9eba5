"""Every built-in task, refiner and metric passes the suites shipped to plugin authors."""

import pytest

from perfekt_bench import PluginHost
from perfekt_bench.testing import MetricTestCase, RefinerTestCase, TaskTestCase

HOST = PluginHost(autoload=False)


@pytest.fixture(params=HOST.refiners.names())
def builtin_refiner(request):
    cls = HOST.refiners.get(request.param)
    return cls(**cls.tiny_params())


@pytest.fixture(params=HOST.metrics.names())
def builtin_metric(request):
    return HOST.metrics.get(request.param)()


@pytest.fixture(params=HOST.tasks.names())
def builtin_task(request):
    return HOST.tasks.get(request.param)()


class TestBuiltinRefiners(RefinerTestCase):
    @pytest.fixture
    def refiner(self, builtin_refiner):
        return builtin_refiner


class TestBuiltinMetrics(MetricTestCase):
    @pytest.fixture
    def metric(self, builtin_metric):
        return builtin_metric


class TestBuiltinTasks(TaskTestCase):
    @pytest.fixture
    def task(self, builtin_task):
        return builtin_task

    @pytest.fixture
    def size(self, builtin_task):
        # jets and deepjet come from PYTHIA: one part of 500 events gives ~1000 (~3000) jets
        return 300 if builtin_task.name in ("jets", "deepjet") else 2000
