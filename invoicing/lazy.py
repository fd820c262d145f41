"""A package's names imported when first used (PEP 562), for the packages whose parts
most commands never need (`invoicing.pdf`, `invoicing.billing`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """The module `__getattr__` of `package`: each name in `names` is imported from the
    submodule it maps to on first use, then kept in the package like any other name."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
