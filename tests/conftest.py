"""Test-wide settings: one torch thread (tiny tensors run far faster without thread hand-offs)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
