"""Public names of a package imported on first use (PEP 562), as SciPy does."""

import importlib
import sys


def attach(package, names, submodules):
    """The ``__getattr__``, ``__dir__`` and ``__all__`` of a package whose names load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Module (relative to the package) -> the public names it defines, in the order of ``__all__``.
    submodules : tuple of str
        Submodules reachable as attributes of the package.

    Examples
    --------
    >>> getattr_, dir_, all_ = attach("json", {"decoder": ("JSONDecodeError",)}, ("decoder",))
    >>> all_, getattr_("JSONDecodeError").__name__, "decoder" in dir_()
    (['JSONDecodeError'], 'JSONDecodeError', True)
    """
    module_of = {name: module for module, module_names in names.items() for name in module_names}

    def __getattr__(name):
        if name in module_of:
            value = getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)
            setattr(sys.modules[package], name, value)  # later look-ups skip this function
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(module_of) | set(submodules))

    return __getattr__, __dir__, list(module_of)
