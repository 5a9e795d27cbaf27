"""Host glue: :mod:`steadygrad.adapters.deepxde` and :mod:`steadygrad.adapters.torchdiffeq`."""
