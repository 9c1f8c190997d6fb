"""Attacks on position-map encryption (the security study, docs/security.md): known-plaintext and
ciphertext-only recovery of the gather map. See :mod:`rvt.security.attacks`."""
