"""Shared test configuration.

float64 is enabled for the whole suite so that reference comparisons can be made
at the precision their claims need; tests of float32 behaviour ask for float32
explicitly.
"""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def getkey():
    """Return a function that hands out fresh, deterministic PRNG keys."""
    counter = iter(range(10**9))
    base = jax.random.key(1234)

    def _getkey():
        return jax.random.fold_in(base, next(counter))

    return _getkey


@pytest.fixture(autouse=True, scope="module")
def _drop_compiled_programs():
    """Drop JAX's compiled programs after each test module.  A test worker otherwise keeps
    every program it ever compiled; in full runs a worker holding many hundreds of them
    crashed twice inside XLA's compiler (an abort, a segfault) on tests that pass alone."""
    yield
    jax.clear_caches()
