"""Building the service from settings, and running it: one uvicorn process, or a real uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from workprint.config import ServerSettings
from workprint.errors import ConfigError
from workprint.server.api import ServerAPI
from workprint.server.app import create_app
from workprint.store.blobs import open_blob_store
from workprint.store.keys import MasterKeyFile
from workprint.store.metadata import MetadataStore

__all__ = ["build_api", "serve_in_thread", "stop_server"]


def build_api(settings: ServerSettings) -> ServerAPI:
    """The embedded defaults (SQLite, a local blob directory, a master key file) or whatever the URLs select."""
    keys = MasterKeyFile(settings.server_dir / "master.key")
    keys.key_id  # noqa: B018 - create or check the key file now, not at the first request
    return ServerAPI(
        MetadataStore(settings.resolved_db_url()), open_blob_store(settings.resolved_blob_url()), keys, settings
    )


def serve_in_thread(
    api: ServerAPI, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start a real uvicorn in a daemon thread (``port=0`` picks a free port); returns it, the thread, its URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # here, not in the thread, so a busy port is an error the caller sees
    except OSError as exc:
        sock.close()
        raise ConfigError(f"server: cannot listen on {host}:{port} ({exc.strerror})") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(create_app(api), host=host, port=bound, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(f"server: did not start on {host}:{bound} within {timeout} s")
        time.sleep(0.01)
    return server, thread, f"http://{host}:{bound}"


def stop_server(server: uvicorn.Server, thread: threading.Thread, timeout: float = 10.0) -> None:
    """Ask the server to finish its requests and stop, and wait for its thread."""
    server.should_exit = True
    thread.join(timeout)
