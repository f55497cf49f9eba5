"""perfekt-bench: a plugin-based benchmark for refining fast simulation.

The public API lives here; everything else is an implementation detail.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .budgets import BUDGETS
from .cache import DataCache, load_splits
from .closure import DownstreamClosure, Measurement, Pull, efficiency
from .comparison import CompareConfig, CompareResult, compare
from .data import FeatureNames, Sample, Splits, Triplets
from .errors import (
    ConfigurationError,
    DataError,
    IncompatibleError,
    PerfektBenchError,
    PerfektBenchWarning,
    UnknownNameError,
)
from .export import export_run
from .hyperparameters import Hyperparameter, Search
from .latency import measure_latency
from .loading import load_refiner
from .metric import Metric, MetricValue, batched
from .objectfiles import ObjectChunk, ObjectReader
from .plugins import PluginHost, hookimpl
from .refiner import Refinement, Refiner
from .refining import refine_file
from .registry import Registry
from .runner import run
from .runs import RunConfig, RunResult
from .stats import mean_correlation_difference, pair_differences, pearson_matrix
from .task import Task
from .training import EarlyStopping
from .transform import FeatureTransform
from .transformed import TransformedRefiner
from .tuning import TuneConfig, TuneResult, tune
from .yardstick import EvaluationSettings, OmniscientColumn

try:
    __version__ = _version("perfekt-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "BUDGETS", "CompareConfig", "CompareResult", "ConfigurationError", "DataCache", "DataError",
    "DownstreamClosure", "EarlyStopping", "EvaluationSettings", "FeatureNames",
    "FeatureTransform", "Hyperparameter", "IncompatibleError", "Measurement", "Metric",
    "MetricValue", "ObjectChunk", "ObjectReader", "OmniscientColumn", "PerfektBenchError",
    "PerfektBenchWarning", "PluginHost", "Pull", "Refinement", "Refiner", "Registry",
    "RunConfig", "RunResult", "Sample", "Search", "Splits", "Task", "TransformedRefiner",
    "Triplets", "TuneConfig", "TuneResult", "UnknownNameError", "__version__", "batched",
    "compare", "efficiency", "export_run", "hookimpl", "load_refiner", "load_splits",
    "mean_correlation_difference", "measure_latency", "pair_differences", "pearson_matrix",
    "refine_file", "run", "tune",
]
