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

Clones: on x86-64 (GCC or Clang), every kernel is also compiled for
x86-64-v3 (AVX2 + FMA) into ``fastxent._kernels._avx2`` and for x86-64-v4
(AVX-512) into ``fastxent._kernels._avx512``, each from the same Cython
output: the whole module, its Python-facing loops included, is built for
the instruction set. ``fastxent._kernels`` imports the best one the CPU runs
(or the one ``FASTXENT_CLONE`` names). ``FASTXENT_NATIVE=1`` builds the
baseline alone, for the build machine's CPU.

The extensions compile in parallel, one per core, with a count of the modules
ready shown on the terminal (pip shows a build's own output only with ``-v``).
A second install of an
unchanged checkout (``pip install -e ".[test]"`` after ``pip install -e .``)
compiles nothing: pip builds each install in a fresh environment, whose new
Cython and build folders would make every file look out of date, so a
kernel's C output and its compiled module are reused when they are newer than
the project's sources and were made by the same Cython and the same flags.
"""

import glob
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import Cython
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The modules built in every clone, each named after the Python module it
# serves (fastxent/_kernels/__init__.py states the rule); "cpu", which picks
# the clone, is built for the baseline alone.
KERNELS = [
    "categorical",
    "logsumexp",
    "binary",
    "information",
    "log_loss",
    "validation",
    "lbfgs",
    "config",
]

# Clone package -> the flags that select its instruction set. AVX-512 code
# is built for 512-bit vectors: GCC's generic tuning prefers 256 bits.
CLONES = {
    "_avx2": ["-march=x86-64-v3"],
    "_avx512": ["-march=x86-64-v4", "-mprefer-vector-width=512"],
}


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


def builds_clones():
    """True when the x86-64 clones are built beside the baseline."""
    machine = platform.machine().lower()
    return (
        machine in ("x86_64", "amd64")
        and sys.platform != "win32"
        and os.environ.get("FASTXENT_NATIVE") != "1"
        and os.environ.get("FASTXENT_SANITIZE") != "1"
    )


def clone_source(name, package):
    """A C file that includes the kernel's Cython output, one per clone.

    Each clone compiles the same generated C; a file of its own gives it an
    object file of its own.
    """
    folder = os.path.join("build", "clones", package)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}{package}.c")
    text = f'#include "{name}.c"\n'
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as handle:
            handle.write(text)
    return path


def newer_than_all(path, sources):
    """True when ``path`` exists and is no older than every file of sources."""
    if not os.path.exists(path):
        return False
    return os.path.getmtime(path) >= max(os.path.getmtime(s) for s in sources)


def current_c_output(pyx):
    """The C file Cython made of ``pyx``, or None when it must be made again.

    It is current when this Cython wrote it (its first line names the
    version) after the last change to the .pyx and the shared .pxd files.
    Cython's own dependency check also counts its installed includes, which
    a fresh build environment makes newer than any earlier output.
    """
    c_file = pyx[: -len(".pyx")] + ".c"
    if not newer_than_all(c_file, [pyx, *glob.glob("fastxent/_kernels/*.pxd")]):
        return None
    with open(c_file) as handle:
        header = handle.readline()
    return c_file if f"Cython {Cython.__version__} " in header else None


def build_record(ext):
    """What a compiled module depends on besides its files' contents."""
    return repr(
        (
            sorted(ext.sources),
            ext.extra_compile_args,
            ext.extra_link_args,
            ext.define_macros,
            os.environ.get("CC"),
            numpy.__version__,
            sys.version,
        )
    )


def show_progress(line):
    """Write ``line`` on the terminal the install runs in, if there is one.

    pip keeps a build's own output to itself unless run with ``-v``, so a
    progress line written to stdout would not be seen; the terminal is the
    one place a user of a plain ``pip install`` looks at. Without a terminal
    (CI, a redirected batch job) nothing is written.
    """
    try:
        with open("/dev/tty", "w") as terminal:
            terminal.write(line)
    except OSError:
        pass


class ParallelBuildExt(build_ext):
    """build_ext compiling one extension per core unless told otherwise, and
    reusing a module an earlier build left in the source tree when nothing it
    was made from has changed."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1
        self.finished = 0

    def run(self):
        # setuptools builds into build_lib and copies to the source tree
        # afterwards, only for in-place (and editable) builds: only then does
        # a record describe the module the tree will hold.
        self.updates_tree = bool(self.inplace)
        super().run()

    def build_extension(self, ext):
        self.build_or_reuse(ext)
        # Extensions finish on several threads; the count is a progress hint.
        self.finished += 1
        end = "\n" if self.finished == len(self.extensions) else ""
        show_progress(
            f"\rfastxent: {self.finished} of {len(self.extensions)} kernel "
            f"modules ready{end}"
        )

    def build_or_reuse(self, ext):
        record = os.path.join("build", "records", ext.name + ".txt")
        in_tree = os.path.join(*ext.name.split(".")) + sysconfig.get_config_var(
            "EXT_SUFFIX"
        )
        if self.reusable(ext, record, in_tree):
            print(f"fastxent: {ext.name} unchanged since the last build, reused")
            target = self.get_ext_fullpath(ext.name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(in_tree, target)
            return
        super().build_extension(ext)
        if not self.updates_tree:
            if os.path.exists(record):
                os.remove(record)  # the tree's module is not this build's
            return
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(record, "w") as handle:
            handle.write(build_record(ext))

    def reusable(self, ext, record, in_tree):
        """True when in_tree was built from ext's current files and options."""
        if self.force or not newer_than_all(in_tree, [*ext.sources, *ext.depends]):
            return False
        if not os.path.exists(record):
            return False
        with open(record) as handle:
            return handle.read() == build_record(ext)


compile_args, link_args = build_flags()
common = dict(
    include_dirs=["fastxent/_kernels", numpy.get_include()],
    # The C headers and the shared .pxd: an edit there rebuilds every kernel.
    depends=sorted(glob.glob("fastxent/_kernels/*.h"))
    + sorted(glob.glob("fastxent/_kernels/*.pxd")),
    extra_link_args=link_args,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
)


def with_flags(flags):
    """The common options, with the compile flags also recorded as a string
    that the config module reports."""
    recorded = ("FX_BUILD_FLAGS", '"' + " ".join(flags) + '"')
    return {
        **common,
        "extra_compile_args": flags,
        "define_macros": [*common["define_macros"], recorded],
    }


def kernel_extension(name):
    """The baseline extension of one kernel, from its C output when current."""
    pyx = f"fastxent/_kernels/{name}.pyx"
    source = current_c_output(pyx) or pyx
    return Extension(f"fastxent._kernels.{name}", [source], **with_flags(compile_args))


baseline = [kernel_extension(name) for name in [*KERNELS, "cpu"]]
to_cythonize = [ext for ext in baseline if ext.sources[0].endswith(".pyx")]
extensions = [ext for ext in baseline if ext not in to_cythonize]
if to_cythonize:
    extensions += cythonize(
        to_cythonize,
        compiler_directives={"language_level": "3"},
        include_path=["."],
    )
if builds_clones():
    for package, flags in CLONES.items():
        extensions += [
            Extension(
                f"fastxent._kernels.{package}.{name}",
                [clone_source(name, package)],
                **{
                    **with_flags(compile_args + flags),
                    "depends": [*common["depends"], f"fastxent/_kernels/{name}.c"],
                },
            )
            for name in KERNELS
        ]

setup(ext_modules=extensions, cmdclass={"build_ext": ParallelBuildExt})
