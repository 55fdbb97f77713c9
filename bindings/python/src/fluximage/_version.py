"""The version of the Python package (it follows the library's version)."""

__version__ = "0.2.0"
