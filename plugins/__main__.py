"""``python -m steadygrad``: see :mod:`steadygrad.cli`."""

from .cli import main

raise SystemExit(main())
