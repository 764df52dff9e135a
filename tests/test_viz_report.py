"""``strided report``: one self-contained HTML page, checked as a file and in a real headless browser.

The page's figures are checked against what the training run wrote on its own (``metrics.json``,
from the training loop's evaluation), its pictures are decoded with Pillow, and Chromium (Debian's
``chromium``, when installed) loads the page from disk and takes a screenshot that must not be blank.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from viz_run import read_rgb, require_viz, tiny_run


class _Page(HTMLParser):
    """Collects the tags that could load something, the headings and the result table's rows."""

    def __init__(self):
        super().__init__()
        self.sources, self.scripts, self.links, self.headings, self.cells = [], 0, [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if tag == "script":
            self.scripts += 1
        if tag == "link" or (tag == "a" and "href" in attrs):
            self.links.append(attrs.get("href", ""))
        self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.headings.append(data.strip())
        if self._in == "td":
            self.cells.append(data.strip())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    require_viz()
    from strided.cli import main
    run = tiny_run(tmp_path_factory)
    out = tmp_path_factory.mktemp("report") / "page.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    return run, out


def test_page_is_self_contained_and_has_every_section(report):
    run, path = report
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert page.scripts == 0 and page.links == []
    assert page.headings == ["Result", "Configuration", "Model", "Training curves", "Confusion matrix", "Filters",
                             "Sample predictions", "Most confident mistakes"]
    assert len(page.sources) == 5
    from PIL import Image
    for src in page.sources:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as image:
            pixels = np.asarray(image.convert("L"), np.int64)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 5     # a picture, not a blank


def test_result_table_agrees_with_the_training_runs_own_evaluation(report):
    run, path = report
    final = json.loads((run / "metrics.json").read_text())["final"]
    cells = _Page()
    cells.feed(path.read_text(encoding="utf-8"))
    table = dict(zip(cells.cells[0::2], cells.cells[1::2]))
    assert float(table["test accuracy"]) == pytest.approx(final["test_accuracy"], abs=5e-5)
    assert float(table["test loss"]) == pytest.approx(final["test_loss"], abs=5e-5)
    assert table["test examples"].startswith(f"{int(np.sum(final['confusion_matrix'])):,} ")
    assert table["parameters"] == f"{sum(int(np.prod(v.shape)) for v in _weights(run).values()):,}"


def _weights(run):
    import strided as st
    return {k: v for k, v in st.load(str(run / "checkpoint.npz"))["model"].items()}


def test_report_without_viz_extra_names_it(tmp_path_factory, monkeypatch, capsys):
    require_viz()
    import builtins
    from strided.cli import main
    run = tiny_run(tmp_path_factory)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["report", str(run), "--out", str(run / "never.html")]) != 0
    assert "strided[viz]" in capsys.readouterr().err
    assert not (run / "never.html").exists()


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")


def test_chromium_loads_the_page_without_errors_and_draws_it(report, tmp_path):
    run, path = report
    browser = _chromium()
    shot = tmp_path / "shot.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
              "--enable-logging=stderr", "--v=0"]
    done = subprocess.run(common + [f"--screenshot={shot}", "--window-size=1100,1400", path.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    # Console errors and failed loads are logged as "CONSOLE" / "Failed to load"; D-Bus noise is not about the page.
    page_errors = [line for line in done.stderr.splitlines()
                   if re.search(r"CONSOLE|Failed to load|net::ERR|Uncaught|Not allowed to load", line)]
    assert page_errors == []
    pixels = read_rgb(shot)
    assert pixels.shape == (1400, 1100, 3)
    dark = (pixels.sum(axis=2) < 200).mean()                  # text and lines
    assert 0.005 < dark < 0.5 and pixels.std() > 20
    dom = subprocess.run(common + ["--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<h2>Confusion matrix</h2>" in dom.stdout and dom.stdout.count('src="data:image/png;base64,') == 5
