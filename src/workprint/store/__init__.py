"""Storage behind interfaces, selected by URL.

- ``store.metadata.MetadataStore(url)``: participants, devices, enrolment codes, segment manifests, audit log
  (SQLite or PostgreSQL; schema in ``store.tables``, built by the Alembic migrations in ``store.migrations``; rows
  in ``store.records``). ``store.accounts.AccountStore``: accounts, sessions, API tokens, grants.
- ``store.blobs.BlobStore``: ``LocalBlobStore(directory)`` or ``store.s3.S3BlobStore(url)``.
- ``store.keys.KeyProvider``: ``MasterKeyFile(path)`` or ``store.transit.VaultTransitKeys(url, token)``; both are
  ``RotatingKeyProvider``s.
"""
