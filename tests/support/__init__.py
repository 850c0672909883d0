"""Test helpers that start real components (PostgreSQL, the modelbay server) as child
processes, hold their process ids, and stop them again.

Import them as ``from support.postgres import PostgresCluster`` (pytest puts ``tests/`` on
``sys.path`` because ``tests/`` itself is not a package) or as ``tests.support...`` when the
repository root is on ``sys.path``.
"""
