"""Fixtures shared by the test modules.

No torch import at module level: the stdp_sim tests must run without PyTorch installed
(stdp_sim never needs torch), so torch is imported only inside the fixtures that use it.
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every case of the hostile suite (tests/hostile, marker ``hostile``) is also
    ``slow``, so that ``-m "not slow"`` leaves the whole suite out (``tryfirst``: before
    ``-m`` deselects), and runs last, after the quicker tests."""
    for item in items:
        if item.get_closest_marker("hostile") is not None:
            item.add_marker(pytest.mark.slow)
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
