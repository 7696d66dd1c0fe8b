"""``python -m fastxent``: see :mod:`fastxent._cli.main`."""

import sys

from fastxent._cli.main import main, restart_bench_with_passive_openmp

if __name__ == "__main__":
    restart_bench_with_passive_openmp(sys.argv[1:])
    sys.exit(main())
