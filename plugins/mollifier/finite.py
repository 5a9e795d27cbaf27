"""The check that the wrapped network returned finite values (NaN/Inf would poison every
derivative).  On CUDA the check does not stall the GPU pipeline: the count of bad values is
copied to pinned host memory asynchronously and inspected later (``deferred``)."""

from __future__ import annotations

import torch

__all__ = ["CHECKS", "FiniteCheck", "check_policy", "raise_if_nonfinite"]

CHECKS = (True, False, "sync", "deferred")


def raise_if_nonfinite(bad: int) -> None:
    if bad:
        raise FloatingPointError(
            f"the wrapped network returned {bad} non-finite values (NaN/Inf); the mollified "
            "field and all its derivatives would be NaN"
        )


class _Deferred:
    """Count of non-finite values copied to host memory asynchronously; calling it waits for
    that copy only (issued right after the network forward) and raises if the count is > 0."""

    def __init__(self, bad: torch.Tensor):
        self.event = None
        if bad.device.type == "cuda":
            self.host = torch.empty((), dtype=bad.dtype, device="cpu", pin_memory=True)
            self.host.copy_(bad, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        else:
            self.host = bad
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        if self.event is not None:
            self.event.synchronize()
        raise_if_nonfinite(int(self.host))

    def hook(self, grad: torch.Tensor) -> None:
        self()


def check_policy(policy: bool | str) -> bool | str:
    """``policy`` if it is one of :data:`CHECKS`, else ``ValueError``."""
    if policy not in CHECKS:
        raise ValueError(f"check_finite must be True, False, 'sync' or 'deferred', got {policy!r}")
    return policy


class FiniteCheck:
    """Policy ``True`` (at once on CPU, deferred on CUDA), ``'sync'``, ``'deferred'`` or ``False``.

    A deferred check raises when backward reaches the network values, or at the next call,
    whichever comes first.
    """

    def __init__(self, policy: bool | str):
        self.policy = check_policy(policy)
        self.pending: _Deferred | None = None

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        if self.pending is not None:  # a deferred check of the previous call
            pending, self.pending = self.pending, None
            pending()
        if not self.policy:
            return values
        bad = torch.isfinite(values.detach()).logical_not().sum()
        deferred = self.policy == "deferred" or (
            self.policy is True and values.device.type == "cuda"
        )
        if not deferred:
            raise_if_nonfinite(int(bad))
            return values
        self.pending = _Deferred(bad)
        if values.requires_grad:
            values.register_hook(self.pending.hook)
        return values

    def __getstate__(self) -> dict:
        return {"policy": self.policy, "pending": None}
