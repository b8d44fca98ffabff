"""The front door's htpasswd lines: SHA-512-crypt equal to the scheme's reference vectors and to
``openssl passwd -6`` (the outputs below were made with OpenSSL 3.0.19), which nginx's crypt(3) reads."""

from __future__ import annotations

import pytest

from obs_conformance.deployer.engine.htpasswd import htpasswd_line, sha512_crypt, verifies

VECTORS = [
    # Drepper's "Unix crypt using SHA-256 and SHA-512", test vector 1 (5000 rounds)
    (
        "Hello world!",
        "saltstring",
        "svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    # openssl passwd -6 -salt ... -stdin
    ("a", "Qx/9.abcdefghijk", "lhOAU1IwW3eskWIMlKFZrN7pmCOuAqQvdqmxk0DLTaDAbWGH98Cl9iYIPTGurlKmXakZKAsZEWf3.myutx7/W/"),
    (
        "correct horse battery staple",
        "Qx/9.abcdefghijk",
        "zMmTrKpeU.r5xtmZbg43ctFpq9MQ0k7nFG1U9.jWZYcG4pCXWY91rV5b8QHoNlkIJtwljnrprqEoRxeGLF0mS.",
    ),
    (
        "x" * 70,
        "Qx/9.abcdefghijk",
        "N6JU2jxxYM/OLiYiQujlWoY8LkZlkZeYfUlT9heqUya4DMT9cpqdTUWg1JpRO/WEYBoz9cqZlpAdBjqgY.M6g0",
    ),
    (
        "we have a short salt string but not a short password",
        "short",
        "qmfj2meTBr5G2EAGIJ4vjX7RpefsD4JzpEyTAeEUJdzdxlBS6pe8gdMHm5zFftaFSj/2p2bjBwyVS9ZhWpLZt.",
    ),
]


@pytest.mark.parametrize(("password", "salt", "expected"), VECTORS)
def test_sha512_crypt_equals_the_reference(password: str, salt: str, expected: str) -> None:
    assert sha512_crypt(password, salt) == f"$6${salt}${expected}"


def test_a_line_verifies_its_password_only() -> None:
    line = htpasswd_line("obs-conformance", "s3cret-pass")
    assert line.startswith("obs-conformance:$6$") and line.endswith("\n")
    assert "s3cret-pass" not in line
    assert verifies(line, "obs-conformance", "s3cret-pass")
    assert not verifies(line, "obs-conformance", "s3cret-pasS")
    assert not verifies(line, "someone-else", "s3cret-pass")
    assert htpasswd_line("u", "p") != htpasswd_line("u", "p"), "each line gets its own random salt"
