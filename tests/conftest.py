import os

os.environ.setdefault("DDE_BACKEND", "pytorch")

import deepxde  # noqa: F401, E402 - on a CUDA machine its import makes cuda the default device
import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))
torch.set_default_device("cpu")  # tests choose their device explicitly (the `device` fixture)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    """DeepXDE's set_default_float changes torch's global default dtype: undo it after each test."""
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)
    torch.set_default_device("cpu")
