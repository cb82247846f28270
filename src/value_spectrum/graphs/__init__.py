"""The loop: LangGraph graphs for a feed session, feed policies, checkpointed resume.

Import the submodules directly (``value_spectrum.graphs.session``); this package imports
nothing heavy.
"""
