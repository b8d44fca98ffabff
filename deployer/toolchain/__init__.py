"""The bottom of the deployer: pinned builds (Go programs, helm, kubectl, operators), Debian packages, chart sources."""
