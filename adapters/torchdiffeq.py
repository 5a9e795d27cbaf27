"""torchdiffeq glue (placeholder until the multistep solvers land)."""


def register() -> None:
    return None
