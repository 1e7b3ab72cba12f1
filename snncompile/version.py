"""The package version, in a module of its own so that modules can name it without importing
the package top level (which reaches the whole compiler lazily)."""

__version__ = "0.1.0"
