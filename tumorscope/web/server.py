"""``tumorscope serve``: run the app on Werkzeug's threaded server (no debug mode, no reloader)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from werkzeug.serving import make_server

from tumorscope import DISCLAIMER
from tumorscope.web.app import create_app

__all__ = ["serve"]


def serve(host: str = "127.0.0.1", port: int = 5000, model_dir: str | Path | None = None, backend: str = "onnx",
          threads: int | None = None, max_upload_mb: float = 20, echo: Callable[[str], None] = print) -> None:
    """Load the models, print the URL and the disclaimer, and serve until interrupted (Ctrl+C).

    For production put the app behind a WSGI server instead, e.g.
    ``gunicorn -w 2 -b 127.0.0.1:5000 'tumorscope.web:create_app()'``.

    Raises:
        FileNotFoundError, ValueError, RuntimeError: the models cannot be loaded.
        OSError: the address is in use or not available.
    """
    app = create_app(model_dir, backend=backend, threads=threads, max_upload_mb=max_upload_mb)
    analyzer = app.extensions["tumorscope"]
    server = make_server(host, port, app, threaded=True)
    shown_host = f"[{host}]" if ":" in host else host
    echo(f"tumorscope web app on http://{shown_host}:{server.server_port}/ "
         f"({backend} backend, models from {analyzer.model_dir}); press Ctrl+C to stop")
    echo(DISCLAIMER)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        analyzer.close()
