"""Campaign engine and its flows: the worker, the engine, instrument calls, policy choice, reports and settings."""
