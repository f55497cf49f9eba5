"""The refiners and metrics shipped with perfekt-bench, registered through entry points."""
