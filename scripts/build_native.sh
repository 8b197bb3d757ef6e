#!/usr/bin/env bash
# Rebuild radseg._native in place (sdk/_native*.so) after editing cpp_ext/. Serialised with a lock so that
# parallel builds from several shells do not write the same .so at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
exec flock /tmp/radseg-native-build.lock "$PY" setup.py -q build_ext --inplace
