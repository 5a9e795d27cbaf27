"""Options declared once: each option is one field of a frozen dataclass whose metadata holds
its help text, how to read it from a command line (``parse``; ``bool``: a bare flag) and its
allowed values (``choices``).  :class:`Declared` gives such a class its constructor that names
unknown options, and :func:`add_flags` its command-line flags, so nothing is listed twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

__all__ = ["Declared", "add_flags", "option", "unknown_options"]


def option(default: Any, help: str, parse: Callable = str, choices: tuple | None = None):
    """A declared option: a dataclass field with its documentation and command-line reading."""
    return dataclasses.field(
        default=default, metadata={"help": help, "parse": parse, "choices": choices}
    )


def unknown_options(owner: str, unknown: Iterable[str], known: Iterable[str]) -> str:
    """'unknown option(s) ... (did you mean ...?); it accepts [...]' for ``owner``."""
    known = list(known)
    hints = [
        f"{u!r} (did you mean {m[0]!r}?)" if m else repr(u)
        for u in unknown
        for m in [difflib.get_close_matches(u, known, n=1)]
    ]
    listed = ", ".join(hints)
    return f"bad options for {owner}: unknown option(s) {listed}; it accepts {sorted(known)}"


class Declared:
    """Mixin for a frozen dataclass of declared options (validated in its ``__post_init__``)."""

    #: who owns the options, as error messages name it
    OWNER: ClassVar[str] = "this object"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def create(cls, **options: Any):
        """Validated options; ``TypeError`` naming any unknown option and the allowed ones."""
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise TypeError(unknown_options(cls.OWNER, unknown, cls.names()))
        return cls(**options)

    def replace(self, **changes: Any):
        """A copy with ``changes`` (validated like :meth:`create`)."""
        return type(self).create(**{**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}


def add_flags(
    parser: argparse.ArgumentParser,
    declared: type,
    prefix: str = "",
    required: tuple[str, ...] = (),
) -> None:
    """One ``--name`` flag per declared option.  Every flag defaults to None (a bare flag to
    False), so only the flags given reach :meth:`Declared.create` and the declaration's
    defaults apply otherwise."""
    for f in dataclasses.fields(declared):
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        if meta["parse"] is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", help=meta["help"])
            continue
        shown = f.default is None or "default" in meta["help"] or f.name in required
        note = " (required)" if f.name in required else "" if shown else f" (default: {f.default})"
        parser.add_argument(
            flag,
            dest=f.name,
            type=meta["parse"],
            choices=meta["choices"],
            help=f"{prefix}{meta['help']}{note}",
        )
