"""The kernels compiled for x86-64-v3 (AVX2 + FMA); see fastxent._kernels."""
