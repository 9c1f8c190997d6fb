import sys

from rvt.cli import main

sys.exit(main())
