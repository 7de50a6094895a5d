"""The demo channel: an in-process customer for `hub demo` (replies never fail, and get an answer)."""
