# cython: language_level=3
"""How this clone of the kernels was compiled: flags, compiler, OpenMP.

Compiled into every clone with that clone's flags, which ``setup.py`` also
hands over as the string ``FX_BUILD_FLAGS``; ``fastxent.show_config``
prints them.
"""


cdef extern from *:
    """
    #ifndef FX_BUILD_FLAGS
    #define FX_BUILD_FLAGS ""
    #endif
    #if defined(__clang__)
    #define FX_COMPILER_VERSION __VERSION__
    #elif defined(__GNUC__)
    #define FX_COMPILER_VERSION "gcc " __VERSION__
    #elif defined(_MSC_VER)
    #define FX_COMPILER_VERSION "MSVC"
    #else
    #define FX_COMPILER_VERSION "unknown"
    #endif
    #ifdef _OPENMP
    #include <omp.h>
    static int fx_openmp_version(void) { return _OPENMP; }
    static int fx_openmp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fx_openmp_version(void) { return 0; }
    static int fx_openmp_max_threads(void) { return 1; }
    #endif
    /* The shared library that serves the OpenMP calls (libgomp, libomp...),
       where the loader can say; pyconfig.h defines _GNU_SOURCE for dladdr. */
    #if defined(_OPENMP) && (defined(__linux__) || defined(__APPLE__))
    #include <dlfcn.h>
    static const char *fx_openmp_library(void)
    {
        Dl_info info;
        if (dladdr((void *)&omp_get_max_threads, &info) && info.dli_fname)
            return info.dli_fname;
        return "";
    }
    #else
    static const char *fx_openmp_library(void) { return ""; }
    #endif
    """
    const char* FX_BUILD_FLAGS
    const char* FX_COMPILER_VERSION
    int fx_openmp_version()
    int fx_openmp_max_threads()
    const char* fx_openmp_library()


def build_info():
    """This clone's compile flags, compiler version and OpenMP support.

    Returns
    -------
    info : dict
        ``flags`` (str), ``compiler`` (str), ``openmp`` (the ``_OPENMP``
        date, as an int, or 0 for a serial build) and ``openmp_max_threads``
        (the OpenMP runtime's default thread count, 1 for a serial build)
        and ``openmp_library`` (the file of the OpenMP runtime, "" when
        unknown).
    """
    return {
        "flags": FX_BUILD_FLAGS.decode(),
        "compiler": FX_COMPILER_VERSION.decode(),
        "openmp": fx_openmp_version(),
        "openmp_max_threads": fx_openmp_max_threads(),
        "openmp_library": fx_openmp_library().decode(errors="replace"),
    }
