"""The bench report: machine, versions and Markdown tables of ratios.

Markdown, so that the output can go into the README as printed. Every
speed figure is a ratio of medians measured in the same rounds: a peer's
time over fastxent's (above 1: fastxent is faster), and fastxent's time
over the copy of as many bytes (1 would be the memory-bound limit).
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
from dataclasses import dataclass

from fastxent import _kernels
from fastxent._cli.cases import FASTXENT, LIMIT, PEERS, KernelCase
from fastxent._cli.estimators import Comparison
from fastxent._config import available_cores, cpu_model
from fastxent._kernels import AVAILABLE, CLONE


@dataclass(frozen=True)
class KernelTiming:
    """Median seconds of each implementation of ``case`` on ``n_threads``."""

    case: KernelCase
    n_threads: int
    seconds: dict[str, float]

    def ratio(self, peer: str) -> float | None:
        """Peer time over fastxent time, None if the peer did not run."""
        if peer not in self.seconds:
            return None
        return self.seconds[peer] / self.seconds[FASTXENT]

    @property
    def limit_ratio(self) -> float:
        """fastxent time over the time of copying as many bytes."""
        return self.seconds[FASTXENT] / self.seconds[LIMIT]


@dataclass(frozen=True)
class KernelMemory:
    """Peak extra bytes of one call of each implementation of ``case``:
    ``traced`` by tracemalloc, ``resident`` (RSS; None where unsupported)."""

    case: KernelCase
    traced: dict[str, int]
    resident: dict[str, int] | None


def _version(module_name: str) -> str:
    module = sys.modules.get(module_name)
    if module is None:
        return "not installed"
    return getattr(module, "__version__", "unknown")


def machine_lines(threads) -> list[str]:
    """Date, CPU, thread counts and the versions of everyone measured."""
    now = datetime.datetime.now(datetime.timezone.utc)
    build = _kernels.config.build_info()
    versions = ", ".join(
        f"{name} {_version(module)}"
        for name, module in (
            ("fastxent", "fastxent"),
            ("numpy", "numpy"),
            ("scipy", "scipy"),
            ("scikit-learn", "sklearn"),
            ("PyTorch", "torch"),
        )
    )
    return [
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()}, {available_cores()} cores available to the process",
        f"- kernel clone: {CLONE} (of {', '.join(AVAILABLE)} on this CPU); "
        f"compiled by {build['compiler']} with {build['flags']}",
        f"- threads: {', '.join(map(str, threads))} (BLAS and OpenMP pinned with "
        "threadpoolctl; `n_threads` for fastxent and scikit-learn, "
        "`torch.set_num_threads` for PyTorch)",
        f"- OpenMP wait policy: {os.environ.get('OMP_WAIT_POLICY', 'unset')} "
        "(passive: idle threads of one peer's runtime do not spin beside the "
        "next peer)",
        f"- Python {platform.python_version()}, {versions}",
    ]


def _ratio_cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _geometric_mean(values) -> float | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A Markdown table; ``align`` has one 'l' or 'r' per column."""
    rule = ["---" if a == "l" else "--:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def summary_table(timings: list[KernelTiming]) -> list[str]:
    """Per kernel and thread count, the geometric mean of each ratio over the
    shapes and dtypes, with the range in brackets."""
    rows = []
    groups: dict[tuple[str, int], list[KernelTiming]] = {}
    for timing in timings:
        groups.setdefault((timing.case.kernel, timing.n_threads), []).append(timing)
    for (kernel, n_threads), group in groups.items():
        row = [f"`{kernel}`", str(n_threads)]
        for peer in PEERS:
            ratios = [t.ratio(peer) for t in group if t.ratio(peer) is not None]
            mean = _geometric_mean(ratios)
            row.append(
                "-"
                if mean is None
                else f"{_ratio_cell(mean)} ({_ratio_cell(min(ratios))}-"
                f"{_ratio_cell(max(ratios))})"
            )
        limits = [t.limit_ratio for t in group]
        row.append(
            f"{_geometric_mean(limits):.1f} ({min(limits):.1f}-{max(limits):.1f})"
        )
        rows.append(row)
    header = ["kernel", "threads", *PEERS, "fastxent / copy"]
    return _table(header, rows, "lr" + "r" * (len(PEERS) + 1))


def kernel_table(timings: list[KernelTiming]) -> list[str]:
    """One row per case and thread count: fastxent's time and every ratio."""
    rows = []
    for timing in timings:
        case = timing.case
        rows.append(
            [
                f"`{case.kernel}`",
                case.shape_label,
                case.dtype_label,
                str(timing.n_threads),
                f"{1e3 * timing.seconds[FASTXENT]:.2f}",
                f"{timing.limit_ratio:.1f}",
                *(_ratio_cell(timing.ratio(peer)) for peer in PEERS),
            ]
        )
    header = ["kernel", "shape", "dtype", "threads", "fastxent ms", "/ copy", *PEERS]
    return _table(header, rows, "llll" + "r" * (2 + len(PEERS)))


def _megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def memory_table(memories: list[KernelMemory]) -> list[str]:
    """Peak extra MB of one call, ``traced / resident`` per implementation."""
    names = [FASTXENT, *PEERS]
    rows = []
    for memory in memories:
        case = memory.case
        row = [f"`{case.kernel}`", case.shape_label, case.dtype_label]
        for name in names:
            if name not in memory.traced:
                row.append("-")
                continue
            resident = None if memory.resident is None else memory.resident[name]
            row.append(f"{_megabytes(memory.traced[name])} / {_megabytes(resident)}")
        rows.append(row)
    header = ["kernel", "shape", "dtype", *names]
    return _table(header, rows, "lll" + "r" * len(names))


def estimator_table(comparisons: list[Comparison]) -> list[str]:
    """Seconds, ratio, held-out accuracy and cross-entropy per comparison."""
    rows = []
    for comparison in comparisons:
        peer, ours = comparison.peer, comparison.ours
        rows.append(
            [
                comparison.problem,
                comparison.task,
                str(comparison.n_threads),
                f"{peer.model}: {peer.seconds:.3g} s, {peer.n_iter} it",
                f"{ours.model}: {ours.seconds:.3g} s, {ours.n_iter} it"
                + (f" ({comparison.note})" if comparison.note else ""),
                f"{comparison.ratio:.2f}",
                f"{peer.accuracy:.4f} / {ours.accuracy:.4f}",
                f"{peer.cross_entropy:.4f} / {ours.cross_entropy:.4f}",
            ]
        )
    header = [
        "problem",
        "task",
        "threads",
        "scikit-learn",
        "fastxent",
        "time ratio",
        "accuracy",
        "cross-entropy",
    ]
    return _table(header, rows, "lllllrrr")


def render(
    threads,
    timings: list[KernelTiming],
    memories: list[KernelMemory],
    comparisons: list[Comparison],
    missing_peers: list[str],
) -> str:
    """The whole report, Markdown."""
    lines = ["## fastxent bench", "", *machine_lines(threads)]
    if missing_peers:
        lines.append(f"- not installed, left out: {', '.join(missing_peers)}")
    lines += [
        "",
        "Peer time / fastxent time, geometric mean over shapes and dtypes "
        "(range); above 1 fastxent is faster. fastxent / copy: fastxent's time "
        "over copying as many bytes as the kernel reads and writes (1 is the "
        "memory-bound limit).",
        "",
        *summary_table(timings),
    ]
    if comparisons:
        lines += [
            "",
            "Estimators: time ratio = scikit-learn seconds / fastxent seconds; "
            "accuracy and cross-entropy on a held-out quarter, scikit-learn / "
            "fastxent.",
            "",
            *estimator_table(comparisons),
        ]
    if memories:
        lines += [
            "",
            "Peak extra memory of one call, MB: tracemalloc / resident set "
            "(tracemalloc does not see PyTorch's allocations; both include the "
            "returned arrays).",
            "",
            *memory_table(memories),
        ]
    lines += ["", "Every case:", "", *kernel_table(timings)]
    return "\n".join(lines) + "\n"
