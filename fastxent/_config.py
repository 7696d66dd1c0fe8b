"""``show_config``: which kernel clone runs, how it was built, on what CPU."""

from __future__ import annotations

import os
import platform
from typing import Any, Literal, overload

from fastxent import _kernels
from fastxent._kernels import AVAILABLE, CLONE


def cpu_model() -> str:
    """The CPU's model name, with its family and model numbers on x86
    (``AMD EPYC`` names several generations; family 23 is Zen 1 and 2, 25
    Zen 3 and 4, 26 Zen 5)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
                if not line.strip():
                    break  # the first processor is enough
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def config() -> dict[str, Any]:
    """The facts ``show_config`` prints, as a dict.

    Returns
    -------
    info : dict
        ``clone`` (the kernel clone in use), ``clone_chosen_by``
        (``"FASTXENT_CLONE"`` or ``"CPU"``), ``clones_available``,
        ``cpu``, ``compiler``, ``compile_flags``, ``openmp`` (the
        ``_OPENMP`` date, 0 for a serial build), ``openmp_library`` (the
        runtime's file name, "" when unknown), ``openmp_max_threads`` and
        ``cores_available``.
    """
    build = _kernels.config.build_info()
    forced = os.environ.get("FASTXENT_CLONE", "auto").strip().lower()
    return {
        "clone": CLONE,
        "clone_chosen_by": "CPU" if forced in ("", "auto") else "FASTXENT_CLONE",
        "clones_available": list(AVAILABLE),
        "cpu": cpu_model(),
        "compiler": build["compiler"],
        "compile_flags": build["flags"],
        "openmp": build["openmp"],
        "openmp_max_threads": build["openmp_max_threads"],
        "openmp_library": os.path.basename(build["openmp_library"]),
        "cores_available": available_cores(),
    }


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@overload
def show_config(mode: Literal["stdout"] = "stdout") -> None: ...


@overload
def show_config(mode: Literal["dicts"]) -> dict[str, Any]: ...


def show_config(mode: Literal["stdout", "dicts"] = "stdout") -> dict[str, Any] | None:
    """Print (or return) the kernel clone in use and how it was built.

    Parameters
    ----------
    mode : {"stdout", "dicts"}, default="stdout"
        ``"stdout"`` prints the configuration; ``"dicts"`` returns it as the
        dict of :func:`config` (numpy's ``show_config`` has the same modes).

    Returns
    -------
    info : dict or None
        The configuration for ``mode="dicts"``, else None.
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    info = config()
    if mode == "dicts":
        return info
    openmp = (
        f"{info['openmp_library'] or 'yes'} (_OPENMP {info['openmp']}), "
        f"{info['openmp_max_threads']} threads by default"
        if info["openmp"]
        else "no (serial build)"
    )
    print(
        f"kernel clone:     {info['clone']} (chosen by {info['clone_chosen_by']}; "
        f"this machine runs {', '.join(info['clones_available'])})\n"
        f"CPU:              {info['cpu']}, {info['cores_available']} cores "
        "available\n"
        f"compiler:         {info['compiler']}\n"
        f"compile flags:    {info['compile_flags']}\n"
        f"OpenMP:           {openmp}"
    )
    return None
