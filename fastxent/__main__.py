"""``python -m fastxent``: see :mod:`fastxent._cli.main`."""

import sys

from fastxent._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
