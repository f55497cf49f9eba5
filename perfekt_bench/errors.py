"""Errors that are the user's to fix: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations


class PerfektBenchError(Exception):
    """Base class of every error perfekt-bench reports to a user as a plain message."""

    exit_code = 2


class UnknownNameError(PerfektBenchError, KeyError):
    """A task, refiner or metric name that no loaded plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str], *, note: str = ""):
        self.kind, self.name, self.known = kind, name, sorted(known)
        listing = ", ".join(self.known) if self.known else "none are registered"
        message = f"unknown {kind} {name!r}; known {kind}s: {listing}"
        if note:
            message += f" (note: {note})"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DataError(PerfektBenchError, ValueError):
    """Task data that cannot be used: wrong shapes, missing columns, NaN or infinite values."""


class IncompatibleError(PerfektBenchError, ValueError):
    """A refiner or metric that cannot run on the chosen task (e.g. it needs pairs)."""


class ConfigurationError(PerfektBenchError, ValueError):
    """A bad option or hyperparameter given on the command line or in code."""


class OutputError(ConfigurationError):
    """An output location that cannot be written (a file where a folder is wanted, a folder
    where a file is wanted, no permission, a read-only place), found before any work."""


class PerfektBenchWarning(UserWarning):
    """Something the user should know that does not stop the command (a damaged results file
    skipped, a figure that could not be drawn); the CLI prints it as one line."""
