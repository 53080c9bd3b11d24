"""Test-session setup: float64 is enabled here for every test (the library never turns it on
itself); float32 tests ask for float32 explicitly."""

import jax

jax.config.update("jax_enable_x64", True)
