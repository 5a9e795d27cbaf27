"""An example third-party steadygrad plugin: one kernel, one derivative operator, one ODE method.

Each is a subclass of the steadygrad base class of its group, declared as an entry point in
this folder's pyproject.toml; steadygrad finds them by name after ``pip install``.
"""

from steadygrad.derivatives import AutodiffOperator
from steadygrad.mollifier import PolynomialKernel
from steadygrad.multistep.methods import LinearMultistep


class Triweight(PolynomialKernel):
    """The triweight profile (1 - s^2)^3 (derivatives continuous up to order 2)."""

    name = "triweight"

    def __init__(self):
        super().__init__(q=3)

    def __repr__(self) -> str:
        return "triweight"


class CountingAutodiff(AutodiffOperator):
    """DeepXDE's own autodiff, counting network evaluations (shows the operator interface)."""

    name = "counting-autodiff"

    def __init__(self):
        self.calls = 0

    def forward(self, call, x, module=None):
        self.calls += 1
        return call(x)


class Nystrom3(LinearMultistep):
    """Explicit Nystrom, 3 steps: x_{n+3} = x_{n+1} + h (7 f_{n+2} - 2 f_{n+1} + f_n) / 3.

    Order 3; weakly stable (root -1), like leapfrog.
    """

    name = "nystrom3"
    alpha = (0.0, -1.0, 0.0, 1.0)
    beta = (1 / 3, -2 / 3, 7 / 3)
    order = 3
    start = "rk4"
