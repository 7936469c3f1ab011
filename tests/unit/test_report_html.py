"""The HTML report: self-contained (no network, no scripts) and rendered by headless Chromium
with the headline numbers on the page. Browser tests skip when Chromium is not installed."""

import re
import shutil
import struct
import subprocess

import pytest

from labeler.evaluate import evaluate
from labeler.gold import load_binary_gold
from labeler.predictions import load_predictions
from labeler.report_html import render_html

GOLD = [["study_uid", "Edema", "Pleural Effusion"],
        ["r1", "1", "0"], ["r2", "1", "1"], ["r3", "0", "0"], ["r4", "0", "1"], ["r5", "1", "0"]]
PRED = [["study_uid", "Edema", "Pleural Effusion"],
        ["r1", "1", "0"], ["r2", "-1", ""], ["r3", "0", "-1"], ["r4", "", "1"], ["r5", "0", ""]]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")

    def write(rows, name):
        path = tmp / name
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
        return path

    gold = load_binary_gold(write(GOLD, "gold.csv"))
    preds = [load_predictions(write(GOLD, "perfect.csv"), name="perfect <b>"),
             load_predictions(write(PRED, "mine.csv"), name="mine")]
    report = evaluate(gold, preds, n_bootstrap=100, seed=0)
    page = tmp / "evaluation.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page, report


def run_chromium(*args, tmp_path):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_render_html_is_self_contained(report_page):
    html = report_page[0].read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(?!#)", html)  # only in-page #refs
    assert html.count("<svg") == 2  # metric plot and difference plot, inline


def test_render_html_escapes_names(report_page):
    html = report_page[0].read_text(encoding="utf-8")
    assert "perfect &lt;b&gt;" in html and "perfect <b>" not in html


def test_render_html_has_tables_for_every_observation(report_page):
    html = report_page[0].read_text(encoding="utf-8")
    assert html.count("<table class='metrics'") == 2
    assert html.count("<div class='confusion'>") == 2
    assert "Pleural Effusion: 2 (false negative 1, false positive 1)" in html


def test_render_html_is_deterministic(report_page):
    assert render_html(report_page[1]) == report_page[0].read_text(encoding="utf-8")


@needs_chromium
def test_html_renders_in_chromium_with_headline_numbers(report_page, tmp_path):
    page, report = report_page
    proc = run_chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    card = re.search(r'<div class="headline" id="headline-1"[^>]*>(.*?)</div>\s*</div>', dom, re.S)
    assert card is not None, dom[:2000]
    text = re.sub(r"<[^>]+>", " ", card.group(1))
    macro = report.headline(1)["macro"]
    assert f"{macro.value:.3f}" == "0.650"
    assert "0.650" in text and f"[{macro.low:.3f}, {macro.high:.3f}]" in text
    assert "micro coded F1:" in text and "0.667" in text
    assert 'id="headline-0"' in dom and "1.000" in dom
    assert "<svg" in dom


@needs_chromium
def test_html_screenshot_is_painted(report_page, tmp_path):
    shot = tmp_path / "page.png"
    proc = run_chromium("--window-size=1200,1600", f"--screenshot={shot}", report_page[0].as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 1600)
    assert len(data) > 20_000  # text, tables and plots, not a blank page
