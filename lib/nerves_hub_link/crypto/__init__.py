"""Crypto for boards: BLAKE2b, SHA-512, Ed25519, HMAC/PBKDF2 in pure Python.

``hashes`` picks the fastest implementation available (port accelerator, C hashlib,
viper/native code, plain Python). See docs/crypto.md.
"""
