import pytest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The fuzz suite's scratch folder (one per test module)."""
    return tmp_path_factory.mktemp("fuzz")
