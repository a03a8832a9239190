"""The fast paths: Numba kernels (kernels.py), each the twin of a readable NumPy function in a tower and tested
equal to it; refalign's threads (parallel.py: kernels and 1x1-conv / dense products cut into bands, OpenBLAS
single-threaded meanwhile; workers.py: the polling helper threads); where compiled kernels are cached (jit.py).
Only towers import the kernels and threads.
"""
