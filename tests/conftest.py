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


# ---- end-to-end fixtures (helpers in tests/e2e_kit.py); a module may define its own ----------

@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    """An `nhl hub` directory with ``device-1`` registered, shared by the module's tests."""
    from e2e_kit import make_hub_dir

    return make_hub_dir(tmp_path_factory)


@pytest.fixture
def hub(hub_dir):
    """The simulator (TLS on 127.0.0.1) in a thread, stopped after the test."""
    from nhl.hub.testing import HubThread

    h = HubThread(hub_dir)
    yield h
    h.stop()


@pytest.fixture(scope="module")
def plain_hub(tmp_path_factory):
    """The simulator without TLS (HTTP and WebSocket on 127.0.0.1), shared by a module."""
    from nhl.hub import init_dir
    from nhl.hub.testing import HubThread

    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d)
    h = HubThread(d, plain=True)
    yield h
    h.stop()


@pytest.fixture
def run_device():
    """``start(interp, cfg_path, *args)`` -> a ``DeviceProcess``; all are stopped afterwards."""
    from nhl.hub.testing import DeviceProcess

    procs = []

    def start(interp, cfg, *args):
        p = DeviceProcess(interp, cfg, extra_args=args)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()
