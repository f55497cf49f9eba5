"""perfekt-bench: a plugin-based benchmark for refining fast simulation.

The public API lives here; everything else is an implementation detail.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .budgets import BUDGETS
from .cache import DataCache, load_splits
from .closure import DownstreamClosure, Measurement, Pull, efficiency
from .data import FeatureNames, Sample, Splits, Triplets
from .errors import (
    ConfigurationError,
    DataError,
    IncompatibleError,
    PerfektBenchError,
    PerfektBenchWarning,
    UnknownNameError,
)
from .loading import load_refiner
from .metric import Metric, MetricValue, batched
from .plugins import PluginHost, hookimpl
from .refiner import Refinement, Refiner
from .registry import Registry
from .runner import run
from .runs import RunConfig, RunResult
from .stats import mean_correlation_difference, pair_differences, pearson_matrix
from .task import Task
from .training import EarlyStopping
from .transform import FeatureTransform
from .transformed import TransformedRefiner
from .yardstick import EvaluationSettings, OmniscientColumn

try:
    __version__ = _version("perfekt-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "BUDGETS", "ConfigurationError", "DataCache", "DataError", "EarlyStopping",
    "EvaluationSettings", "FeatureNames", "FeatureTransform", "IncompatibleError", "Metric",
    "MetricValue", "OmniscientColumn", "PerfektBenchError", "PerfektBenchWarning",
    "PluginHost", "Refinement", "Refiner", "Registry", "RunConfig", "RunResult", "Sample",
    "Splits", "Task", "TransformedRefiner", "Triplets", "UnknownNameError", "__version__",
    "batched", "hookimpl", "load_refiner", "load_splits", "mean_correlation_difference",
    "pair_differences", "pearson_matrix", "run",
    "DownstreamClosure", "Measurement", "Pull", "efficiency",
]
