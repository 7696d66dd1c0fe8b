"""Kernel clones: which one is imported, forcing one, and every test under each.

The suite itself runs under the clone chosen for this CPU; the last test
runs the reference, accuracy, kernel-math, bad-input, thread and fuzz tests
again under every other clone the CPU runs, each in a fresh interpreter
with ``FASTXENT_CLONE`` set.
"""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import fastxent as fx
from fastxent import _kernels

TESTS = Path(__file__).parent
UNDER_EVERY_CLONE = [
    "test_references.py",
    "test_accuracy.py",
    "test_kernel_math.py",
    "test_bad_input.py",
    "test_threads.py",
    "test_reliability_threads.py",
    "fuzz",
]


def cpu_flags() -> set:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def run_python(code: str, clone: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FASTXENT_CLONE": clone}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )


def test_the_best_runnable_clone_is_imported_by_default():
    """Without FASTXENT_CLONE the first (best) available clone is in use."""
    if os.environ.get("FASTXENT_CLONE", "auto") not in ("", "auto"):
        pytest.skip("FASTXENT_CLONE is set")
    assert _kernels.CLONE == _kernels.AVAILABLE[0]
    assert _kernels.AVAILABLE[-1] == "baseline"


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or sys.platform != "linux",
    reason="the clones are built on x86-64; CPU flags read from /proc/cpuinfo",
)
def test_clones_match_the_cpu_flags():
    """avx2 and avx512 are offered exactly when the CPU has their features."""
    flags = cpu_flags()
    has_v3 = {"avx2", "fma", "bmi1", "bmi2"} <= flags
    has_v4 = has_v3 and {
        "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"
    } <= flags  # fmt: skip
    native = "-march=native" in _kernels.config.build_info()["flags"]
    if native:
        pytest.skip("a FASTXENT_NATIVE build has no clones")
    assert ("avx2" in _kernels.AVAILABLE) == has_v3
    assert ("avx512" in _kernels.AVAILABLE) == has_v4


def test_every_kernel_module_comes_from_the_chosen_clone():
    """Attribute and dotted imports both reach the chosen clone's modules."""
    import fastxent._kernels.categorical as dotted

    package = _kernels.PACKAGES[_kernels.CLONE]
    assert dotted is _kernels.categorical
    for name in _kernels.MODULES:
        assert getattr(_kernels, name).__name__ == f"{package}.{name}"


@pytest.mark.parametrize("clone", ["baseline", "avx2", "avx512"])
def test_forcing_a_clone_imports_it_or_says_why_not(clone):
    """FASTXENT_CLONE imports the clone named, or fails naming the ones there."""
    result = run_python(
        "import fastxent as fx; print(fx.show_config(mode='dicts')['clone'])", clone
    )
    if clone in _kernels.AVAILABLE:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == clone
    else:
        assert result.returncode != 0
        assert "available here: " in result.stderr


def test_unknown_clone_name_is_an_import_error():
    """A misspelt clone name fails at import, listing the valid names."""
    result = run_python("import fastxent", "avx-512")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "avx512" in result.stderr


def test_show_config_prints_the_clone_flags_and_openmp(capsys):
    """show_config names the clone, the compile flags and OpenMP; dicts mode
    returns the same facts."""
    info = fx.show_config(mode="dicts")
    assert info["clone"] == _kernels.CLONE
    assert info["compile_flags"].startswith("-O")
    assert fx.show_config() is None
    printed = capsys.readouterr().out
    assert f"kernel clone:     {info['clone']}" in printed
    assert info["compile_flags"] in printed
    assert "OpenMP:" in printed
    with pytest.raises(ValueError, match="mode"):
        fx.show_config(mode="json")


@pytest.mark.parametrize(
    "clone", [c for c in ("baseline", "avx2", "avx512") if c != _kernels.CLONE]
)
def test_reference_accuracy_and_reliability_tests_pass_under_clone(clone):
    """The value, accuracy, bad-input, thread and fuzz tests pass under every
    other clone this CPU runs."""
    if clone not in _kernels.AVAILABLE:
        pytest.skip(f"this CPU or build does not run the {clone} clone")
    env = {**os.environ, "FASTXENT_CLONE": clone}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [str(TESTS / name) for name in UNDER_EVERY_CLONE]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
