"""fastxent.torch against PyTorch's own functions: time, and memory of the
linear cross-entropy.

Two comparisons, each a ratio in the same run:

- ``ops``: ``fastxent.torch.cross_entropy`` forward + backward against
  ``torch.nn.functional.cross_entropy``'s, mean reduction, integer targets,
  on the kernel bench's shapes, in float32 and bfloat16, at each thread
  count (``torch.set_num_threads``, which fastxent's kernels follow). The
  two are interleaved call by call; the median of each is kept.
- ``linear``: ``fastxent.torch.linear_cross_entropy`` against PyTorch's
  ``linear_cross_entropy``, its reference path (``options=None``: the
  logits made whole) and its chunked path, forward + backward, N=4096,
  D=512, V=32000 float32 by default. Each runs in its own process so that
  its peak resident memory is its own; the figure is that peak beyond the
  inputs and their gradients.

Run on an otherwise idle machine::

    python benchmarks/torch_ops.py                  # both, 1 and 2 threads
    python benchmarks/torch_ops.py ops --threads 1 --repeats 31
    python benchmarks/torch_ops.py linear --n 4096 --d 512 --v 32000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import fastxent.torch as fxt

SHAPES = ((1_000_000, 2), (200_000, 10), (20_000, 100), (2_000, 1_000), (256, 32_000))
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
LINEAR_PATHS = ("fastxent", "reference", "chunked")


def cpu_name() -> str:
    """The CPU's model name, for the figures' caption."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _forward_backward(loss_function, logits, target):
    def run():
        logits.grad = None
        loss_function(logits, target).backward()

    return run


def time_ops(threads: int, repeats: int) -> list[dict]:
    """Median seconds of each operator pair on each shape and dtype."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for dtype_name, dtype in DTYPES.items():
        for n, c in SHAPES:
            logits = (2.0 * torch.randn(n, c, generator=generator)).to(dtype)
            logits.requires_grad_()
            target = torch.randint(0, c, (n,), generator=generator)
            runs = {
                "fastxent": _forward_backward(fxt.cross_entropy, logits, target),
                "PyTorch": _forward_backward(F.cross_entropy, logits, target),
            }
            seconds = {name: [] for name in runs}
            for _ in range(3):  # warm up: first touch of the buffers
                for run in runs.values():
                    run()
            for _ in range(repeats):
                for name, run in runs.items():
                    start = time.perf_counter()
                    run()
                    seconds[name].append(time.perf_counter() - start)
            medians = {name: statistics.median(s) for name, s in seconds.items()}
            rows.append(
                {
                    "dtype": dtype_name,
                    "shape": f"{n} x {c}",
                    "threads": threads,
                    **{f"{name} ms": 1e3 * m for name, m in medians.items()},
                    "ratio": medians["PyTorch"] / medians["fastxent"],
                }
            )
    return rows


def linear_run(path: str, n: int, d: int, v: int, threads: int, repeats: int):
    """One process's measure of one linear path: median seconds, peak MiB."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=generator).requires_grad_()
    weight = (torch.randn(v, d, generator=generator) / d**0.5).requires_grad_()
    target = torch.randint(0, v, (n,), generator=generator)

    def loss():
        if path == "fastxent":
            return fxt.linear_cross_entropy(x, weight, target)
        options = None if path == "reference" else torch.nn.LinearCrossEntropyOptions()
        return F.linear_cross_entropy(x, weight, target, options=options)

    # The peak from here on: reset the high-water mark (Linux), so that the
    # set-up's temporaries do not count.
    base = _resident_kib("VmRSS", reset=True)
    seconds = []
    for _ in range(repeats):
        x.grad = weight.grad = None  # as optimizer.zero_grad() leaves them
        start = time.perf_counter()
        value = loss()
        value.backward()
        seconds.append(time.perf_counter() - start)
    peak = _resident_kib("VmHWM")
    gradients = (x.numel() + weight.numel()) * x.element_size() / 2**20
    return {
        "path": path,
        "threads": threads,
        "loss": value.item(),
        "seconds": statistics.median(seconds[1:] or seconds),
        "peak MiB beyond inputs and gradients": (peak - base) / 1024 - gradients,
    }


def _resident_kib(field: str, reset: bool = False) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in KiB."""
    if reset:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def time_linear(n, d, v, threads, repeats) -> list[dict]:
    rows = []
    for path in LINEAR_PATHS:
        command = [
            sys.executable, __file__, "_linear-one", path, str(n), str(d), str(v),
            str(threads), str(repeats),
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def _table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "_linear-one":
        path, *numbers = argv[1:]
        print(json.dumps(linear_run(path, *map(int, numbers))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("ops", "linear", "both"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--v", type=int, default=32000)
    args = parser.parse_args(argv)
    what = args.what or "both"
    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; PyTorch {torch.__version__}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for threads in args.threads:
        if what in ("ops", "both"):
            print(f"\ncross_entropy forward + backward, {threads} thread(s):")
            print(_table(time_ops(threads, args.repeats)))
        if what in ("linear", "both"):
            print(
                f"\nlinear_cross_entropy forward + backward, N={args.n} D={args.d} "
                f"V={args.v} float32, {threads} thread(s):"
            )
            print(_table(time_linear(args.n, args.d, args.v, threads, 3)))


if __name__ == "__main__":
    main()
