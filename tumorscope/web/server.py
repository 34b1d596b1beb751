"""``tumorscope serve``: run the app on Werkzeug's threaded server (no debug mode, no reloader)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from tumorscope import DISCLAIMER
from tumorscope.web.app import create_app

__all__ = ["serve"]


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the ``Server: Werkzeug/x Python/y`` banner."""

    def version_string(self) -> str:
        return "tumorscope"


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # leaves serve_forever() in the main thread, like Ctrl+C


def serve(host: str = "127.0.0.1", port: int = 5000, model_dir: str | Path | None = None, backend: str = "onnx",
          threads: int | None = None, max_upload_mb: float = 20, echo: Callable[[str], None] = print,
          max_concurrent: int | None = None) -> None:
    """Load the models, print the URL and the disclaimer, and serve until Ctrl+C or SIGTERM (exits cleanly).

    For production put the app behind a WSGI server instead, e.g.
    ``gunicorn -k gthread --threads 4 -w 2 -b 127.0.0.1:5000 'tumorscope.web:create_app()'``.

    Raises:
        FileNotFoundError, ValueError, RuntimeError: the models cannot be loaded.
        OSError: the address is in use or not available.
    """
    app = create_app(model_dir, backend=backend, threads=threads, max_upload_mb=max_upload_mb,
                     max_concurrent=max_concurrent)
    analyzer = app.extensions["tumorscope"]
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    shown_host = f"[{host}]" if ":" in host else host
    echo(f"tumorscope web app on http://{shown_host}:{server.server_port}/ "
         f"({backend} backend, models from {analyzer.model_dir}); press Ctrl+C to stop")
    echo(DISCLAIMER)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None  # process managers stop with SIGTERM
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        server.server_close()
        analyzer.close()
