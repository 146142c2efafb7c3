"""The surrogates' type supports are registered from a list (the package does not import pkgutil): it names every
module of pyheapdump.surrogates that defines SUPPORTS, and those are registered when the package is imported."""

from __future__ import annotations

import importlib
import pkgutil

import pyheapdump
from pyheapdump import surrogates, typesupport


def test_the_list_names_every_module_that_defines_supports_in_file_name_order() -> None:
    with_supports = []
    for info in pkgutil.iter_modules(surrogates.__path__):
        module = importlib.import_module(f"{surrogates.__name__}.{info.name}")
        if hasattr(module, "SUPPORTS"):
            with_supports.append(info.name)
    assert list(surrogates.SUPPORT_MODULES) == with_supports


def test_importing_the_package_registers_every_support() -> None:
    assert pyheapdump.save_dump is not None  # the dump side is imported, so the supports are registered
    for name in surrogates.SUPPORT_MODULES:
        module = importlib.import_module(f"{surrogates.__name__}.{name}")
        for support in module.SUPPORTS:
            assert typesupport._by_name.get(support.name) is support, support.name
