"""``python -m deployer`` (in a checkout) and ``python -m obs_conformance.deployer``: the CLI in cli.py."""

import sys

from obs_conformance.deployer.cli import main

sys.exit(main())
