"""Build the Cython kernels.

Flags: ``-O3 -fopenmp-simd -fno-trapping-math`` always (``omp simd`` hints
need no runtime; without trapping math GCC may turn the selects of the exp
into vector blends), and ``-fopenmp`` when a probe compile shows the compiler
and linker accept it; otherwise the ``prange`` loops build and run serially,
with the same results.

Opt-in environment variables:
- ``FASTXENT_NATIVE=1`` adds ``-march=native`` (the wheel then only runs on
  CPUs like the build machine's).
- ``FASTXENT_NO_OPENMP=1`` forces the serial build.
- ``FASTXENT_SANITIZE=1`` builds for AddressSanitizer and
  UndefinedBehaviorSanitizer (``-fsanitize=address,undefined``, at ``-O1``
  with frame pointers and debug info, for readable reports). CPython itself
  is not instrumented, so the ASan runtime must be loaded first: run with
  ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``; see the README's
  "Reliability" section.
"""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = [
    "_softmax_xent",
    "_logsumexp",
    "_binary_xent",
    "_information",
    "_proba_scan",
    "_labels",
]


def compiler_accepts(flags):
    """True when the C compiler builds and links a program with OpenMP under flags."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    source = (
        "#include <omp.h>\n"
        "int main(void) { int n = 0;\n"
        "#pragma omp parallel reduction(+:n)\n"
        "n += 1; return n > 0 ? 0 : 1; }\n"
    )
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as handle:
            handle.write(source)
        cmd = [*cc.split(), *flags, path, "-o", os.path.join(tmp, "probe")]
        result = subprocess.run(cmd, capture_output=True)
        return result.returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_flags():
    """Compile and link flags for this compiler and the opt-in variables."""
    if sys.platform == "win32":
        return ["/O2", "/openmp"], []
    compile_args = ["-O3", "-fopenmp-simd", "-fno-trapping-math"]
    link_args = []
    if os.environ.get("FASTXENT_NO_OPENMP") != "1" and compiler_accepts(["-fopenmp"]):
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    else:
        print("fastxent: building without OpenMP (kernels run serially)")
    if os.environ.get("FASTXENT_NATIVE") == "1":
        compile_args.append("-march=native")
    if os.environ.get("FASTXENT_SANITIZE") == "1":
        sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        # Last, so that -O1 overrides -O3: the usual sanitizer setting, fast
        # enough for the whole suite, with accurate stack traces.
        compile_args += [*sanitize, "-g", "-O1"]
        link_args += sanitize
    return compile_args, link_args


compile_args, link_args = build_flags()
extensions = [
    Extension(
        f"fastxent._kernels.{name}",
        [f"fastxent/_kernels/{name}.pyx"],
        include_dirs=["fastxent/_kernels", numpy.get_include()],
        # The C headers and the shared .pxd: an edit there rebuilds every kernel.
        depends=sorted(glob.glob("fastxent/_kernels/*.h"))
        + sorted(glob.glob("fastxent/_kernels/*.pxd")),
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name in KERNELS
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
        include_path=["."],
    ),
)
