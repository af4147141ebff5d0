"""Optional accelerators a port can register (fast hashes, fast Ed25519).

Each entry is None until a port sets it. The portable code falls back to its
own pure-Python implementation when an entry is None.

- ``ed25519_verify(public_key32, signature64, message) -> bool``
- ``ed25519_sign(private_seed32, message) -> bytes``
- ``blake2b_256()`` -> a hash object with ``update``/``digest``
- ``sha512()`` -> a hash object with ``update``/``digest``
"""

ed25519_verify = None
ed25519_sign = None
blake2b_256 = None
sha512 = None
