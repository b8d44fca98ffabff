"""The thin deployer: the local stack of real backends, and (later) helm/kubectl for clusters.

Shares the environment files with the suites (envconf), never imports suites.
"""
