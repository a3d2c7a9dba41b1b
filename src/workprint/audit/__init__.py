"""The tamper-evident audit log.

- ``audit.merkle``: RFC 6962 / 9162 Merkle tree hashes, inclusion and consistency proofs (pure).
- ``audit.checkpoint``: canonical entry bytes, Ed25519-signed checkpoints, ``verify_log``.
- ``audit.log.AuditLog``: the log in the metadata database: append (or refuse the request), checkpoint, prove, verify;
  ``start_checkpointer`` signs a checkpoint every 5 minutes in the server.
- ``audit.signing``: the server's checkpoint-signing key (a 0600 file).
"""
