"""Build glue: maps the fixed top-level folders onto the `radseg` import package and builds `radseg._native`.

sdk/ -> radseg, training/ -> radseg.training, export/ -> radseg.export, cpp_ext/ -> radseg._native (pybind11).
Everything else (metadata, extras, entry points) lives in pyproject.toml.
"""
import os

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

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

setup(
    packages=_packages(),
    package_dir=ROOTS,
    package_data={"radseg": ["models/*/*", "py.typed"]},
    ext_modules=[native],
    cmdclass={"build_ext": build_ext},
)
