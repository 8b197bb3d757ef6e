import sys

from radseg.cli import main

sys.exit(main())
