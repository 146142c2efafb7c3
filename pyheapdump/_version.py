"""The version, written once: the package reads it here and the build (pyproject.toml, `dynamic`) reads it too."""

__version__ = "1.0.0.dev0"
