"""perfekt-bench: a plugin-based benchmark for refining fast simulation.

The public API lives here; everything else is an implementation detail.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .data import FeatureNames, Sample, Splits, Triplets
from .errors import (
    ConfigurationError,
    DataError,
    IncompatibleError,
    PerfektBenchError,
    UnknownNameError,
)
from .metric import Metric, MetricValue, batched, pair_differences, pearson_matrix
from .plugins import PluginHost, hookimpl
from .refiner import Refinement, Refiner
from .registry import Registry
from .runner import RunConfig, RunResult, run
from .task import BUDGETS, EvaluationSettings, OmniscientColumn, Task
from .transform import FeatureTransform, TransformedRefiner

try:
    __version__ = _version("perfekt-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "BUDGETS", "ConfigurationError", "DataError", "EvaluationSettings", "FeatureNames",
    "FeatureTransform", "IncompatibleError", "Metric", "MetricValue", "OmniscientColumn",
    "PerfektBenchError", "PluginHost", "Refinement", "Refiner", "Registry", "RunConfig",
    "RunResult", "Sample", "Splits", "Task", "TransformedRefiner", "Triplets",
    "UnknownNameError", "__version__", "batched", "hookimpl", "pair_differences",
    "pearson_matrix", "run",
]
