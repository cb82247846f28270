"""Many sessions: run directories, resume, concurrency, budgets, executors (local asyncio, Ray).

Import submodules directly: :mod:`value_spectrum.runner.config` (``RunConfig``),
:mod:`value_spectrum.runner.local` (``run_batch``, ``BatchRunner``),
:mod:`value_spectrum.runlog` (``RunLog``, the run directory), :mod:`value_spectrum.runner.export`.
"""
