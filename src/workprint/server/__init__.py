"""The collection service.

- ``server.api.ServerAPI``: the domain (enrolment, device auth, ingest, audited reads, erasure); no web imports.
- ``server.app.create_app(api)``: the FastAPI routes, thin over ``ServerAPI``; ``server.auth`` says who may call.
- ``server.middleware``: security headers, JSON 500s, request body limits.
- ``server.serve``: ``build_api(settings)``, ``serve_in_thread(api, host, port)``, ``stop_server(server, thread)``.
"""
