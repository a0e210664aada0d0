"""The commands of ``hotline``, grouped by what they work on; each module lists its top-level
commands in ``COMMANDS`` for ``worker.cli`` to put together.  A command parses its options, calls
the module of the service that does the work, and prints; the work itself lives there."""
