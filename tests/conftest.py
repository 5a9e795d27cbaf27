import os
import subprocess
import sys

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


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_command(args, cwd=ROOT, timeout=300) -> subprocess.CompletedProcess:
    """Run ``args`` (a list; strings alone mean ``python -m steadygrad ARGS``, unless the first
    is an absolute path: a program, run as given) in a subprocess with DeepXDE on PyTorch, a
    non-interactive matplotlib and warnings off; output captured."""
    if all(isinstance(a, str) for a in args) and args and not os.path.isabs(args[0]):
        args = [sys.executable, "-m", "steadygrad", *args]
    env = dict(os.environ, DDE_BACKEND="pytorch", MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli():
    """The shared command runner: ``cli(["bench", "poisson1d", ...], cwd=..., timeout=...)``
    runs ``python -m steadygrad``; a list starting with an absolute path (``sys.executable``,
    ``torchrun``) runs as given."""
    return run_command
