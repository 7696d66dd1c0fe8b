/*
 * Which instruction sets this CPU and its operating system run, for the
 * choice of kernel clone (fastxent/_kernels/__init__.py).
 *
 * __builtin_cpu_supports reads CPUID once and also checks, through XGETBV,
 * that the OS saves the vector registers of each feature, so a feature it
 * reports can be used. The levels are the psABI's: x86-64-v3 = AVX2, FMA,
 * BMI1/2, F16C, LZCNT, MOVBE; x86-64-v4 adds AVX-512 F, BW, CD, DQ and VL.
 * GCC 12 tests a level as a whole; elsewhere its defining features are
 * tested (every CPU with AVX2, FMA and BMI2 has the rest of v3).
 */
#ifndef FASTXENT_FX_CPU_H
#define FASTXENT_FX_CPU_H

#if (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define FX_CPU_V3() __builtin_cpu_supports("x86-64-v3")
#define FX_CPU_V4() __builtin_cpu_supports("x86-64-v4")
#else
#define FX_CPU_V3()                                                           \
    (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&       \
     __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2"))
#define FX_CPU_V4()                                                           \
    (FX_CPU_V3() && __builtin_cpu_supports("avx512f") &&                      \
     __builtin_cpu_supports("avx512bw") &&                                    \
     __builtin_cpu_supports("avx512cd") &&                                    \
     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
#endif
static int fx_cpu_has_x86_64_v3(void)
{
    __builtin_cpu_init();
    return FX_CPU_V3() != 0;
}

static int fx_cpu_has_x86_64_v4(void)
{
    __builtin_cpu_init();
    return FX_CPU_V4() != 0;
}
#else
static int fx_cpu_has_x86_64_v3(void) { return 0; }
static int fx_cpu_has_x86_64_v4(void) { return 0; }
#endif

#endif /* FASTXENT_FX_CPU_H */
