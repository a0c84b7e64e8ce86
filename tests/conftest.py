"""Shared pytest setup: the lab plugin (session fixture `lab`, see tests/lab/fixture.py)."""

pytest_plugins = ["tests.lab.fixture"]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _inputs_named_by_their_paths():
    """The program names the component's inputs by config key for the rest of its process
    (portsip_im.naming); in one pytest process, each test starts from the component's own names."""
    from portsip_im import naming

    naming.use(None)
    yield
    naming.use(None)
