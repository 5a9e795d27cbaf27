"""Standard benchmark problems (``steadygrad bench``)."""
