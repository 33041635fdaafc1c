"""What the tests, the benchmarks and the demo share: the test servers, the data, the helpers.

One server a module, importable without pytest (a start-up failure raises ServerStartError). The
fixtures are in fixtures.py and the *_fixtures modules, the only ones here that import pytest at
run time; tests/conftest.py registers them as plugins. Imported as `tests.support.<module>`, with
the project's root on sys.path.
"""
