"""Issue 6: `snncompile report` writes one self-contained HTML page; headless Chromium opens it
and every chart decodes and the page renders non-blank. Chromium missing is a failure, never a
skip (install: apt-get install -y --no-install-recommends chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert exe, "chromium is not installed (apt-get install -y --no-install-recommends chromium)"
    return exe


def test_digits_report_renders_in_chromium(tmp_path):
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    _, _, x, _ = load_split()
    np.save(tmp_path / "x.npy", x[:64])
    out = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-m", "snncompile.cli", "report", str(DIGITS), "--target",
                        "loihi2", "--input", str(tmp_path / "x.npy"), "-o", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    for heading in ("Quantization error per layer", "Float vs hardware spikes", "Core placement",
                    "Energy per inference", "Latency", "Assumptions"):
        assert heading in text, heading
    assert "http://" not in text and "https://" not in text  # self-contained: nothing fetched
    exe = _chromium()
    dom = subprocess.run([exe, *FLAGS, "--virtual-time-budget=5000", "--dump-dom",
                          out.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    ok = re.search(r'data-charts-ok="(\d+)/(\d+)"', dom.stdout)
    assert ok, "the page's load script did not run in chromium"
    decoded, total = map(int, ok.groups())
    assert total >= 4 and decoded == total, ok.group(0)
    widths = [int(w) for w in re.findall(r'data-decoded="(\d+)"', dom.stdout)]
    assert min(widths) > 200, widths
    shot = tmp_path / "report.png"
    subprocess.run([exe, *FLAGS, "--window-size=1200,2600", f"--screenshot={shot}",
                    out.as_uri()], capture_output=True, timeout=120, check=False)
    import matplotlib.image as mpimg

    px = mpimg.imread(shot)[..., :3]
    assert px.shape[0] >= 2000 and px.shape[1] >= 1000
    ink = (px.mean(axis=2) < 0.9).mean()  # fraction of non-white pixels
    colour = (px.max(axis=2) - px.min(axis=2) > 0.2).mean()  # chart colours, not just text
    assert ink > 0.03 and colour > 0.005, (ink, colour)
