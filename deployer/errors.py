"""Errors of the local stack, each naming the component or module at fault."""

from __future__ import annotations


class StackError(Exception):
    """The local stack could not be installed, built, started or stopped."""


class BuildError(StackError):
    """A Go build failed; the message names the module, the command and the log."""


class InstallError(StackError):
    """A Debian package is missing and could not be installed."""
