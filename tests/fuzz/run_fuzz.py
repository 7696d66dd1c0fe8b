"""Run the fuzz target for as long as you like and count what it tried.

    python tests/fuzz/run_fuzz.py --minutes 10            # random byte strings
    python tests/fuzz/run_fuzz.py --atheris -max_total_time=600  # coverage-guided

Both drive ``test_fuzz.test_public_api_survives_hostile_input`` through
Hypothesis' ``fuzz_one_input``: each byte string decodes to one call, which
the oracle judges. The plain mode feeds random byte strings and, at the end,
prints how many inputs it tried, how many decoded to a call, what those calls
did (returned, or raised which error) per function, and every distinct
failure with the call that caused it. ``--atheris`` hands the target to
atheris (``pip install atheris``), whose libFuzzer mutates inputs toward new
Python branches of fastxent; libFuzzer prints its own counts.

Failing inputs are saved in Hypothesis' example database (``.hypothesis/``
under the current directory), so ``python -m pytest tests/fuzz`` run from
the same directory replays and shrinks them.
"""

import argparse
import os
import random
import sys
import time
import traceback
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def fuzz_target():
    """The test module and its test as a function of one byte string.

    Imported here, not at the top: atheris must instrument fastxent before
    anything imports it.
    """
    import test_fuzz

    test = test_fuzz.test_public_api_survives_hostile_input
    return test_fuzz, test.hypothesis.fuzz_one_input


def run_random(seconds: float, seed: int) -> int:
    """Feed random byte strings for ``seconds``; print the tallies."""
    test_fuzz, target = fuzz_target()
    rng = random.Random(seed)
    tried = decoded = 0
    failures: Counter = Counter()
    examples = {}
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        # Short strings decode to small calls; long ones reach the big shapes.
        buffer = rng.randbytes(rng.choice([64, 256, 1024, 4096, 16384]))
        tried += 1
        test_fuzz.CURRENT["call"] = None
        try:
            if target(buffer) is not None:
                decoded += 1
        except Exception as err:  # noqa: BLE001 - every failure is a finding
            decoded += 1
            where = traceback.extract_tb(err.__traceback__)[-1]
            key = f"{type(err).__name__} at {where.filename}:{where.lineno}"
            failures[key] += 1
            examples.setdefault(key, (err, test_fuzz.CURRENT["call"]))
    print(f"inputs tried: {tried}, decoded to a call: {decoded}")
    print("outcomes by function:")
    for (name, outcome), count in sorted(test_fuzz.OUTCOMES.items()):
        print(f"  {name:32s} {outcome:12s} {count}")
    print(f"failures: {sum(failures.values())} ({len(failures)} distinct)")
    for key, count in failures.most_common():
        err, call = examples[key]
        print(f"- {count} x {key}\n  {err}\n  call: {call!r}")
    return 1 if failures else 0


# libFuzzer's defaults start from tiny inputs and lengthen them slowly; a
# call of interesting size needs a few hundred bytes to a few kilobytes.
ATHERIS_DEFAULTS = ["-max_len=16384", "-len_control=0"]


def run_atheris(argv) -> None:
    """Hand the target to atheris / libFuzzer, instrumenting fastxent."""
    import atheris

    with atheris.instrument_imports(include=["fastxent"]):
        _, target = fuzz_target()
    given = {arg.split("=")[0] for arg in argv}
    defaults = [arg for arg in ATHERIS_DEFAULTS if arg.split("=")[0] not in given]
    atheris.Setup([argv[0], *defaults, *argv[1:]], target)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--atheris",
        action="store_true",
        help="run under atheris; other arguments go to libFuzzer",
    )
    args, rest = parser.parse_known_args()
    if args.atheris:
        run_atheris([sys.argv[0], *rest])
        return 0
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}, {args.minutes} minutes")
    return run_random(60.0 * args.minutes, seed)


if __name__ == "__main__":
    sys.exit(main())
