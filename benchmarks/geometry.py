"""Run the geometry benchmark: the same as `radseg bench` (see benchmarks/README.md for the latest table).

    .venv/bin/python benchmarks/geometry.py [--threads all] [--repeat 7] [--only edt,closing] [--quick] [--json PATH]
"""
import sys

from radseg.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
