"""htpasswd lines for basic authentication at a front door (local nginx, ingress-nginx).

SHA-512-crypt (``$6$``, Drepper's "Unix crypt using SHA-256 and SHA-512", 5000 rounds): a scheme
nginx reads through the system's crypt(3) (glibc/libxcrypt on Debian, musl in ingress-nginx's
Alpine image) and ``openssl passwd -6`` writes. Made here in Python so neither a password on a
command line nor a binary is needed, and a file that still verifies the password is kept as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROUNDS = 5000
_SALT_MAX = 16


def _order() -> list[tuple[int, int, int]]:
    """The byte triples of the final digest, in the order the scheme encodes them."""
    triples = []
    a, b, c = 0, 21, 42
    for _ in range(21):
        triples.append((a, b, c))
        a, b, c = b + 1, c + 1, a + 1
    return triples


def _b64(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def _repeat(digest: bytes, length: int) -> bytes:
    return (digest * (length // len(digest) + 1))[:length]


def sha512_crypt(password: str, salt: str) -> str:
    """``$6$<salt>$<hash>`` of ``password``: the crypt(3) string."""
    p = password.encode()
    s = salt.encode()[:_SALT_MAX]
    b = hashlib.sha512(p + s + p).digest()
    a = hashlib.sha512(p + s)
    a.update(_repeat(b, len(p)))
    n = len(p)
    while n:
        a.update(b if n & 1 else p)
        n >>= 1
    digest = a.digest()
    p_seq = _repeat(hashlib.sha512(p * len(p)).digest(), len(p))
    s_seq = _repeat(hashlib.sha512(s * (16 + digest[0])).digest(), len(s))
    for i in range(_ROUNDS):
        c = hashlib.sha512(p_seq if i & 1 else digest)
        if i % 3:
            c.update(s_seq)
        if i % 7:
            c.update(p_seq)
        c.update(digest if i & 1 else p_seq)
        digest = c.digest()
    encoded = "".join(_b64((digest[x] << 16) | (digest[y] << 8) | digest[z], 4) for x, y, z in _order())
    encoded += _b64(digest[63], 2)
    return f"$6${s.decode()}${encoded}"


def stable_salt(password: str, scope: str) -> str:
    """A salt that is the same for the same password and scope (an env and user), so a re-rendered
    htpasswd Secret is unchanged (``diff`` shows nothing) while other envs get other hashes."""
    digest = hmac.new(password.encode(), scope.encode(), hashlib.sha256).digest()
    return "".join(_ITOA64[b & 0x3F] for b in digest[:_SALT_MAX])


def htpasswd_line(user: str, password: str, salt: str | None = None) -> str:
    """``user:$6$...`` with a random salt (or ``salt``), newline-terminated."""
    chosen = salt if salt is not None else "".join(secrets.choice(_ITOA64) for _ in range(_SALT_MAX))
    return f"{user}:{sha512_crypt(password, chosen)}\n"


def verifies(line: str, user: str, password: str) -> bool:
    """Whether an htpasswd line is ``user``'s and holds ``password``'s SHA-512-crypt hash."""
    name, _, hashed = line.strip().partition(":")
    parts = hashed.split("$")
    if name != user or len(parts) != 4 or parts[1] != "6":
        return False
    return hmac.compare_digest(sha512_crypt(password, parts[2]), hashed)
