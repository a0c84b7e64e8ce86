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


@pytest.fixture
def this_programs_names():
    """Inputs named as this repository's program names them (its config keys), as its steps send
    their scripts: for tests that run a script's text or read its messages."""
    from portsip_im import naming
    from stack_config.table import NAMESPACE, key_of_path

    naming.use(key_of_path, heading="configuration", prefix=f"{NAMESPACE}:")
    yield
    naming.use(None)
