"""The environment that bounds an experiment's thread pools.

OpenMP (LightGBM, XGBoost, CatBoost, scikit-learn's histogram boosting) gets the experiment's
thread count and waits passively, so idle threads never spin against a parallel experiment.
BLAS (OpenBLAS under numpy and scipy) always gets one thread: its pool spins while it waits, and
measured on connect-4 (40k rows x 126 one-hot columns, logistic regression) two BLAS threads on a
busy 2-core machine took 81 s where one thread took 4.6 s. The matrices of tabular models are
small enough that one BLAS thread loses little when the machine is quiet.
"""

from __future__ import annotations

OMP_VARIABLES = ("OMP_NUM_THREADS",)
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(n_threads: int) -> dict[str, str]:
    """The environment variables that bound OpenMP and BLAS thread pools, plus unbuffered I/O."""
    env = {name: str(n_threads) for name in OMP_VARIABLES}
    env.update({name: "1" for name in BLAS_VARIABLES})
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # busy-waiting threads starve parallel experiments
    return env
