"""The collection service.

- ``server.api.ServerAPI``: the domain (enrolment, device auth, ingest, audited reads, erasure, key rotation); no web
  imports. It owns ``identity`` (``server.identity.Identity``: accounts, argon2id passwords, sessions, API tokens,
  the ``Principal``), ``access`` (``server.access.Access``: deny-by-default authorization, grants) and
  ``audit_log`` (``audit.log.AuditLog``).
- ``server.app.create_app(api, limits=...)``: the FastAPI app; ``server.routes`` holds the account, data, grant,
  audit and admin routes; ``server.auth`` says who is calling; ``server.ratelimit`` limits devices and accounts;
  ``server.signin`` limits failed sign-ins per address and per (address, account), and enrolment per address.
- ``server.middleware``: security headers, JSON 500s, request body limits.
- ``server.serve``: ``build_api(settings)`` (key provider from the environment), ``serve_in_thread``, ``stop_server``.
"""
