"""Benchmarks: commands that measure the controller on the simulated lab (``lab bench ...``).

* :mod:`flows.bench.throughput`: completed experiments per simulated week, the asynchronous
  engine against a synchronous loop, both against the bottleneck instrument's physical limit.
* :mod:`flows.bench.sync_loop`: the synchronous baseline controller.
"""
