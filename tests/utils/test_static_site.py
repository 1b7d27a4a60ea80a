"""faceless.utils.static_site: the kedro-viz build served so that a page's reload works."""
from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from faceless.utils.static_site import main, serve


@pytest.fixture
def site(tmp_path: Path):
    """A site like `kedro viz build`'s, served on a free port of 127.0.0.1."""
    (tmp_path / "index.html").write_text("<html>the app</html>")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "main").write_text('{"nodes": []}')
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("run()")
    (tmp_path.parent / "secret.txt").write_text("outside the site")
    server = serve(tmp_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_a_page_of_the_app_reloads_as_the_app(site):
    assert get(f"{site}/") == (200, "<html>the app</html>")
    # kedro-viz's routes: a reload asks the server for a path no file has
    assert get(f"{site}/workflow") == (200, "<html>the app</html>")
    assert get(f"{site}/flowchart/?pid=__default__&expandAllPipelines=false") == (200, "<html>the app</html>")


def test_files_and_api_answers_are_served_and_missing_ones_are_404(site):
    assert get(f"{site}/api/main") == (200, '{"nodes": []}')
    assert get(f"{site}/assets/app.js") == (200, "run()")
    assert get(f"{site}/api/nodes/missing")[0] == 404  # data, never the page
    assert get(f"{site}/assets/missing.js")[0] == 404
    assert get(f"{site}/../secret.txt")[0] == 404  # never a file outside the site


def test_a_folder_without_a_site_is_one_error_line(tmp_path, capsys):
    assert main([str(tmp_path), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "kedro viz build" in err and len(err.splitlines()) == 1
