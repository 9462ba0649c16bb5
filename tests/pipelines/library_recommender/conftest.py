"""The serving tests' tiny catalogue (its fitted feature tables and feature schema) for the node
tests."""

from tests.serving.conftest import books, fitted, specs  # noqa: F401  (fixtures)
