"""The ``lab`` command line: every command thin (parse, call, print); errors mapped in :mod:`flows.cli.errors`."""
