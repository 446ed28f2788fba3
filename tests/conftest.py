"""Fixtures shared by the test modules.

No torch import at module level: the stdp_sim tests must run without PyTorch installed
(stdp_sim never needs torch), so torch is imported only inside the fixtures that use it.
"""

import pytest

#: Test files that run one at a time even under ``pytest -n`` (pytest-xdist), on one
#: worker, beside the hostile suite: they start Ray instances, which must not meet.
SERIAL_FILES = ("test_ray_executor.py",)


def _serial(item) -> bool:
    return item.get_closest_marker("hostile") is not None or item.path.name in SERIAL_FILES


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every case of the hostile suite (tests/hostile, marker ``hostile``) is also
    ``slow``, so that ``-m "not slow"`` leaves the whole suite out (``tryfirst``: before
    ``-m`` deselects).

    Run one at a time, the hostile suite goes last, after the quicker tests.  Under
    ``pytest -n N --dist loadgroup`` (``make test``), it and :data:`SERIAL_FILES` form
    one group that a single worker runs in order, started first (it is the longest),
    while the other workers take every other test."""
    parallel = bool(getattr(config.option, "numprocesses", None))
    for item in items:
        if item.get_closest_marker("hostile") is not None:
            item.add_marker(pytest.mark.slow)
        if parallel and _serial(item):
            item.add_marker(pytest.mark.xdist_group("serial"))
    if parallel:
        items.sort(key=lambda item: not _serial(item))
    else:
        items.sort(key=lambda item: item.get_closest_marker("hostile") is not None)


@pytest.fixture
def one_thread():
    """Small tensors: one thread avoids OpenMP contention with other processes.

    Not autouse: the torch test modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
