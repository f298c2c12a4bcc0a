"""The test run keeps the bytecode it compiles, as a cell does (running.cells.cell_environment).

Where PYTHONDONTWRITEBYTECODE is set (this machine, CI), every Python process compiles what it imports from source
and throws the bytecode away, and pytest does the same with the modules it rewrites: those of every plugin that
registers itself, all of hypothesis among them. The tests start over a hundred Python processes (pytest, nox, the tool,
cells' controllers), and each did it again: a pytest run of the plugin's made-up cases took 1.1 s of CPU, 0.5 s with
its bytecode kept (measured here). Set before xdist starts its workers, this reaches every process the run starts;
the bytecode goes under .envs/bytecode/, never beside a source file.
"""

import os

from flax_regressions.running.cells import keep_bytecode


def pytest_configure(config):
    os.environ.update(keep_bytecode())
