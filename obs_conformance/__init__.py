"""obs-conformance, installed under one name: its packages (envconf, clients, fixtures, deployer,
suites, slack_mock) are top-level folders of the repository and ``obs_conformance.<name>`` when
imported, so they never collide with PyPI packages of the same names (testtools' ``fixtures``).

In a checkout the folders here are links to the repository's; the wheel maps them with
setuptools' ``package-dir``.
"""
