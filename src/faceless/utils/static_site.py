"""Serve a single-page site, such as the one ``kedro viz build`` writes, so that its pages reload.

kedro-viz routes in the browser (``/workflow``, ``/?pid=...``): ``python -m http.server`` answers a
reload of such a page with 404, since no file has that path. This server answers any path that is
not a file with the site's ``index.html``, and the app then shows the page the path names::

    kedro viz build
    python -m faceless.utils.static_site build --port 4141    # http://127.0.0.1:4141

It binds 127.0.0.1 unless told otherwise, and serves files under its folder only.
"""
from __future__ import annotations

import argparse
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class SinglePageHandler(SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` that answers a page's path naming no file with ``index.html``.
    A missing file (a name with a suffix) or API answer (``/api/...``) is still a 404: the app must
    not get a page where it asked for data."""

    def send_head(self):
        route = self.path.split("?", 1)[0].split("#", 1)[0]
        page = not route.startswith("/api/") and "." not in route.rsplit("/", 1)[-1]
        if page and not Path(self.translate_path(self.path)).exists():
            self.path = "/index.html"
        return super().send_head()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request drowns the URL printed at start


def serve(folder: Path, host: str = "127.0.0.1", port: int = 4141) -> ThreadingHTTPServer:
    """A server of ``folder`` (not yet serving: call ``serve_forever``)."""
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder}: no index.html (run `kedro viz build` first: it writes build/)")
    return ThreadingHTTPServer((host, port), functools.partial(SinglePageHandler, directory=str(folder)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceless.utils.static_site", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="build", help="the site's folder (default: build)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4141)
    args = parser.parse_args(argv)
    try:
        server = serve(Path(args.folder), args.host, args.port)
    except (FileNotFoundError, OSError) as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    print(f"Serving {args.folder} at http://{args.host}:{server.server_address[1]} (Ctrl-C stops it)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
