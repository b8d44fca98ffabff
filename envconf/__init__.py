"""Environment files: the one place where names, sizes, hosts, ports and deadlines live.

Everything above this layer (clients, fixtures, suites, deployer) reads an
:class:`~envconf.environment.Environment`; nothing above it hard-codes a URL or a port.
"""

from obs_conformance.envconf.environment import Environment, load_environment
from obs_conformance.envconf.errors import EnvFileError
from obs_conformance.envconf.secrets import Secret

__all__ = ["EnvFileError", "Environment", "Secret", "load_environment"]
