import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="session")
def _run_from_repo_root():
    # Portable tests use paths relative to the repository root, as the MicroPython runner does.
    old = os.getcwd()
    os.chdir(ROOT)
    yield
    os.chdir(old)
