"""What the test modules share, as plain code: environments, worker processes, data
factories, run checks. Fixtures live in tests/conftest.py and are built from these;
no test module imports another test module or the conftest."""
