"""The HTML report: self-contained, escaped, and checked in a real (headless) browser."""

import json
import re
import shutil
from pathlib import Path

import pytest

from fashion_cluster.report import build_context, render_html, write_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# Every test here reads the tiny study run of conftest.tiny_run (a whole preset).
pytestmark = pytest.mark.soak


def test_report_is_self_contained(tiny_run):
    _, out, _ = tiny_run
    html = (out / "report.html").read_text()
    # Nothing fetched: no external scripts, style sheets, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html
    # Every figure of the run is embedded.
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert html.count("data:image/png;base64,") == len(figures) >= 20
    for name in ("kmeans_raw", "ae_kmeans", "ae_gmm", "conv_ae_kmeans"):
        assert f'id="{name}"' in html
    summary = (out / "summary.md").read_text()
    assert "| method |" in summary and "Autoencoder + GMM" in summary


def test_strings_from_input_are_escaped(tiny_run, tmp_path):
    _, out, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    evil = '<script>alert("x")</script>'
    metrics["dataset"]["name"] = evil
    metrics["dataset"]["class_names"][0] = evil
    metrics["methods"]["ae_gmm"]["title"] = evil
    (copy / "metrics.json").write_text(json.dumps(metrics))
    html = render_html(build_context(copy))
    assert evil not in html and "&lt;script&gt;" in html


def test_new_methods_appear_without_template_changes(tiny_run, tmp_path):
    _, out, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["methods"]["brand_new"] = dict(metrics["methods"]["ae_gmm"], title="Brand new method")
    (copy / "metrics.json").write_text(json.dumps(metrics))
    html = (write_report(copy)).read_text()
    assert 'id="brand_new"' in html and html.count("Brand new method") >= 3


def _browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless browser test needs Debian's chromium and chromium-driver "
                    "(make test installs them when apt is usable)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1200,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


@pytest.mark.browser
def test_report_in_headless_chromium(tiny_run):
    _, out, _ = tiny_run
    browser = _browser()
    try:
        browser.get((out / "report.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);")
        assert len(images) >= 20
        broken = [alt for complete, width, alt in images if not complete or width == 0]
        assert not broken, f"images that did not decode: {broken}"
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        height = browser.execute_script("return document.documentElement.scrollHeight;")
        assert height > 3000
        browser.set_window_size(1200, min(height, 16000))
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "report.png"))
    finally:
        browser.quit()


def test_report_names_confusion_matrices_and_the_best_method(tiny_run):
    _, out, _ = tiny_run
    html = (out / "report.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    for m in metrics["methods"].values():
        assert f"Confusion matrices: {m['title']}" in html
    best = max(metrics["methods"].values(), key=lambda m: m["test"]["accuracy"])
    points = 100 * (best["test"]["accuracy"] - 0.5761)  # the study's best: AE + GMM, test
    assert f"Best method: <b>{best['title']}</b>" in html
    assert f"{points:+.1f} points against the study's best published result" in html
    stages = metrics["timing"]["stages"]
    assert f"wall time <b>{metrics['timing']['total_seconds']:.0f} s</b>" in html
    reused = sum(s["reused"] for s in stages.values())
    assert (f"({reused} of {len(stages)} stages reused" in html) == (reused > 0)


def test_doubtful_results_are_flagged_at_the_top_and_in_their_section(tiny_run, tmp_path):
    _, out, _ = tiny_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(m["warnings"] == [] for m in metrics["methods"].values())  # a sound run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    doubt = "one cluster holds 91% of the images"
    metrics["methods"]["ae_gmm"]["warnings"] = [doubt]
    (copy / "metrics.json").write_text(json.dumps(metrics))
    html = render_html(build_context(copy))
    assert html.count(doubt) == 2 and "This clustering is doubtful" in html
    assert html.index(doubt) < html.index('id="data"')  # said before the details
