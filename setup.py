"""Build glue: maps the fixed top-level folders onto the `radseg` import package and builds `radseg._native`.

sdk/ -> radseg, training/ -> radseg.training, export/ -> radseg.export, cpp_ext/ -> radseg._native (pybind11).
Everything else (metadata, extras, entry points) lives in pyproject.toml.
"""
import os

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

try:
    from setuptools.command.editable_wheel import editable_wheel as _EditableWheel
except ImportError:  # setuptools older than 64 has no PEP 660 editable installs
    _EditableWheel = None

ROOTS = {"radseg": "sdk", "radseg.training": "training", "radseg.export": "export"}


def _packages():
    """Every folder with an __init__.py under the three roots, as dotted package names."""
    found = []
    for package, folder in ROOTS.items():
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            if "__init__.py" in filenames:
                rel = os.path.relpath(dirpath, folder)
                found.append(package if rel == "." else package + "." + rel.replace(os.sep, "."))
    return found


# -O3 and OpenMP: the geometry kernels are memory-bound loops that parallelise across rows / slices.
native = Pybind11Extension(
    "radseg._native",
    ["cpp_ext/bindings.cpp"],
    include_dirs=["cpp_ext"],
    cxx_std=17,
    extra_compile_args=["-O3", "-fopenmp", "-fno-math-errno"],
    extra_link_args=["-fopenmp"],
    depends=[os.path.join("cpp_ext", f) for f in os.listdir("cpp_ext") if f.endswith(".hpp")],
)

# An editable install maps radseg -> sdk/ through a meta-path finder that setuptools appends *after* Python's own
# path finder. In a folder that holds a clone named "radseg" (the usual parent of a checkout), the path finder then
# takes that clone for a namespace package and `radseg.load` is missing. This one-line .pth, which site.py runs
# after setuptools' own (names sort "__editable__..." < "radseg..."), moves radseg's finder to the front.
_FINDER_FIRST_PTH = (  # a stable sort: radseg's finder first, every other finder in its order
    "import sys; sys.meta_path.sort(key=lambda f: not str(getattr(f, '__module__', ''))"
    ".startswith('__editable___radseg'))\n"
)


class _FinderFirst:
    """Wraps setuptools' editable strategy: writes its files, then the .pth above."""

    def __init__(self, inner):
        self._inner = inner

    def __enter__(self):
        self._inner.__enter__()
        return self

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)

    def __call__(self, wheel, files, mapping):
        self._inner(wheel, files, mapping)
        wheel.writestr("radseg_editable_finder_first.pth", _FINDER_FIRST_PTH.encode("utf-8"))


cmdclass = {"build_ext": build_ext}
if _EditableWheel is not None and hasattr(_EditableWheel, "_select_strategy"):

    class EditableWheel(_EditableWheel):
        def _select_strategy(self, *args, **kwargs):
            return _FinderFirst(super()._select_strategy(*args, **kwargs))

    cmdclass["editable_wheel"] = EditableWheel

setup(
    packages=_packages(),
    package_dir=ROOTS,
    package_data={"radseg": ["models/*/*", "py.typed", "serve/static/*"]},
    ext_modules=[native],
    cmdclass=cmdclass,
)
