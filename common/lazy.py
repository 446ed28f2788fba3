"""Names imported on first use: lazy packages (PEP 562) and ``"module:name"`` registries.

A package lists its public names and the submodule of each; :func:`lazy_exports`
returns the module-level ``__getattr__`` and ``__dir__`` that import a submodule when
one of its names is first read, so that ``import pkg.leaf`` loads neither torch nor
brian2 nor the trainers unless the leaf needs them::

    _EXPORTS = {"STDPRule": "stdp_sim.rule", ...}
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
    __all__ = list(_EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports", "resolve"]


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` of ``package`` for ``exports`` (name -> module)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later reads skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def resolve(reference: str) -> Any:
    """The object named by ``"module:name"`` (an entry of a registry that imports what it
    names only when it is used, e.g. :data:`ann.specs.MODELS`)."""
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)
