"""The tasks shipped with perfekt-bench, registered through entry points."""
