"""Shared pytest setup: the lab plugin (session fixture `lab`, see tests/lab/fixture.py)."""

pytest_plugins = ["tests.lab.fixture"]
