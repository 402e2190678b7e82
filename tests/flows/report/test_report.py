"""`lab report`: the data behind it, the file it writes, and the page as headless Chromium renders it."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

import db
from flows.cli.app import app
from flows.report.data import BEST_PATTERNS, ReportData, load_report
from flows.report.errors import ReportNotWritten
from flows.report.html import FIGURE_IDS, TABLE_IDS, render_html
from flows.report.series import best_by_number, best_by_time, decision_rows, pareto_rows, reward_rows, timeline_bars
from flows.report.write import write_report
from lab.pareto import pareto_mask
from lab.state import OutcomeConstraint
from tests.flows.report.conftest import EXPERIMENTS, STUCK_FURNACE, ReportCampaign

NOW = datetime(2026, 1, 7, 8, 0, tzinfo=timezone.utc)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EXPECTED_FIGURES = (*FIGURE_IDS, "fig-pareto")
EXPECTED_TABLES = (*TABLE_IDS, "tbl-pareto")


@pytest.fixture(scope="module")
def data(report_campaign: ReportCampaign) -> ReportData:
    return load_report(report_campaign.store, report_campaign.campaign_id)


@pytest.fixture(scope="module")
def report_file(report_campaign: ReportCampaign, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("html") / "campaign.html"
    return write_report(report_campaign.store, report_campaign.campaign_id, target, NOW)


# --- the data layer (no browser) -----------------------------------------------------------------

def test_best_so_far_is_the_running_maximum_in_both_orders(data: ReportData) -> None:
    rewarded = [e for e in data.experiments if e.reward is not None]
    for points in (best_by_number(data), best_by_time(data)):
        assert len(points) == len(rewarded) >= 4
        bests = [p.best for p in points]
        assert bests == sorted(bests), "best so far never decreases"
        assert all(p.best >= p.value for p in points)
        assert bests[-1] == max(e.reward for e in rewarded if e.reward is not None)
        xs = [p.x for p in points]
        assert xs == sorted(xs)
    assert [p.x for p in best_by_number(data)] == [float(e.number) for e in rewarded]


def test_pareto_rows_match_lab_pareto_on_the_stored_objectives(report_campaign: ReportCampaign, data: ReportData) -> None:
    assert data.objectives == (("target_fraction", "maximize"), ("impurity_fraction", "minimize"))
    with report_campaign.store.session() as s:
        stored = db.objectives_for(s, report_campaign.campaign_id)
        measured = [e for e in db.list_experiments(s, report_campaign.campaign_id) if e.state.value in ("measured", "rewarded")]
    points = [(stored[e.id]["target_fraction"], stored[e.id]["impurity_fraction"]) for e in measured]
    rows = pareto_rows(data)
    assert [r.sample_id for r in rows] == [e.sample_id for e in measured]
    assert [r.values for r in rows] == points
    assert [r.on_front for r in rows] == pareto_mask(points, ("maximize", "minimize"))
    assert any(r.on_front for r in rows) and all(r.feasible for r in rows)
    bound = OutcomeConstraint("impurity_fraction", high=sorted(p[1] for p in points)[len(points) // 2])
    constrained = pareto_rows(dataclasses.replace(data, constraints=(bound,)))
    feasible = [p for p in points if bound.holds({"impurity_fraction": p[1]})]
    assert [r.feasible for r in constrained] == [bound.holds({"impurity_fraction": p[1]}) for p in points]
    assert [r.values for r in constrained if r.on_front] == [p for p, m in zip(feasible, pareto_mask(feasible, ("maximize", "minimize"))) if m]


def test_timeline_decisions_and_reward_versions(data: ReportData) -> None:
    bars = timeline_bars(data)
    lost = [b for b in bars if b.state == "lost"]
    assert [b.instrument for b in lost] == [STUCK_FURNACE] and lost[0].end_h > lost[0].start_h
    assert {b.instrument for b in bars} >= {"doser", "xrd", STUCK_FURNACE}
    assert all(0.0 <= b.start_h <= b.end_h <= data.hours(data.end) + 1e-9 for b in bars)
    decisions = decision_rows(data)
    assert sum(len(d.samples) for d in decisions) == EXPERIMENTS
    assert {(d.policy, d.policy_version) for d in decisions} == {("sobol", "1")} and not any(d.fallbacks for d in decisions)
    first = data.decisions[0]
    handed = dataclasses.replace(first, detail={"proposal_details": [
        {"fallback": "sobol", "reason": "too few observations for a GP"}, {}]})
    row = decision_rows(dataclasses.replace(data, decisions=(handed,)))[0]
    assert row.fallbacks == (f"{row.samples[0]}: sobol (too few observations for a GP)",)
    v1, v2 = reward_rows(data)
    assert (v1.version, v1.active, v2.version, v2.active) == ("v1", True, "v2", False)
    assert "0.5 × impurity_fraction (minimize)" in v1.terms
    best_target = max(e.objectives["target_fraction"] for e in data.experiments if e.has_result)
    assert v2.best == pytest.approx(best_target)
    assert len(data.patterns) == BEST_PATTERNS and data.patterns[0].sample_id == max(
        (e for e in data.experiments if e.has_result), key=lambda e: e.reward or 0.0).sample_id


def test_one_objective_says_so_instead_of_drawing_a_front(data: ReportData) -> None:
    page = render_html(dataclasses.replace(data, objectives=data.objectives[:1]), NOW)
    assert 'id="pareto-single"' in page and "one objective (target_fraction)" in page
    assert 'id="fig-pareto"' not in page and 'id="tbl-pareto"' not in page


# --- the file --------------------------------------------------------------------------------------

def test_report_file_is_self_contained(report_file: Path) -> None:
    page = report_file.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.IGNORECASE)
    assert links and all(v.startswith(("data:image/png;base64,", "#")) for v in links), links[:3]
    assert not re.search(r"https?://", page.replace("http://www.w3.org", "")), "no URL to fetch"
    assert "<script" not in page.lower() and "@import" not in page
    for element_id in (*EXPECTED_FIGURES, *EXPECTED_TABLES):
        assert page.count(f'id="{element_id}"') == 1, element_id
    assert [p.name for p in report_file.parent.iterdir()] == [report_file.name], "no temporary file left"


def test_failed_write_leaves_the_old_file_whole(report_campaign: ReportCampaign, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old report", encoding="utf-8")

    def no_space(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("flows.report.write.os.replace", no_space)
    with pytest.raises(ReportNotWritten, match="No space left on device"):
        write_report(report_campaign.store, report_campaign.campaign_id, target, NOW)
    assert target.read_text(encoding="utf-8") == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(ReportNotWritten, match="does not exist"):
        write_report(report_campaign.store, report_campaign.campaign_id, tmp_path / "missing" / "r.html", NOW)


def test_lab_report_writes_report_id_html_here_and_refuses_unknown_campaigns(
        report_campaign: ReportCampaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cid = report_campaign.campaign_id
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(cid), "--db", report_campaign.url])
    assert result.exit_code == 0, result.output
    expected = tmp_path / f"report-{cid}.html"
    assert result.output.strip().splitlines()[-1] == str(expected) and expected.stat().st_size > 10_000
    nowhere = runner.invoke(app, ["report", str(cid), "--html", str(tmp_path / "no" / "night.html"), "--db", report_campaign.url])
    assert nowhere.exit_code == 2 and f"folder {tmp_path / 'no'} does not exist" in nowhere.output
    missing = runner.invoke(app, ["report", "999", "--db", report_campaign.url])
    assert missing.exit_code == 2 and "no campaign with id 999" in missing.output
    assert len(missing.output.strip().splitlines()) == 1 and not (tmp_path / "report-999.html").exists()


# --- the page in a real browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium driven by chromedriver (Debian packages chromium and chromium-driver)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        where = "CI is set" if os.environ.get("CI") else "outside CI"
        pytest.fail(f"the report's browser test needs headless Chromium: {', '.join(missing)} missing ({where}); "
                    "install the Debian packages: apt-get install chromium chromium-driver", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_every_figure_and_table_renders_and_the_page_is_not_blank(browser: object, report_file: Path,
                                                                  data: ReportData) -> None:
    from selenium.webdriver.chromium.webdriver import ChromiumDriver
    from selenium.webdriver.common.by import By

    assert isinstance(browser, ChromiumDriver)
    browser.get(report_file.as_uri())
    assert browser.title.startswith(f"Campaign {data.campaign.id}:")
    for fig_id in EXPECTED_FIGURES:
        img = browser.find_element(By.ID, fig_id)
        assert img.tag_name == "img", fig_id
        width, height = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
        assert width > 200 and height > 100, (fig_id, width, height)
        assert img.size["width"] > 0, fig_id
    for table_id in EXPECTED_TABLES:
        table = browser.find_element(By.ID, table_id)
        assert table.tag_name == "table" and table.find_elements(By.CSS_SELECTOR, "thead th"), table_id
        assert table.find_elements(By.CSS_SELECTOR, "tbody tr td"), table_id
    rows = browser.find_elements(By.CSS_SELECTOR, "#tbl-experiments tbody tr")
    assert len(rows) == EXPERIMENTS
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tbl-decisions tbody tr")) == len(data.decisions)
    assert "experiment_lost" in browser.find_element(By.ID, "tbl-events").text
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [u for u in fetched if u.startswith(("http:", "https:"))], fetched

    size = browser.execute_script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}})
    pixels = mpimg.imread(io.BytesIO(base64.b64decode(shot["data"])), format="png")[..., :3]
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1000, pixels.shape
    assert float(pixels.std()) > 0.05, "the screenshot is (nearly) one colour"
    rgb = (pixels.reshape(-1, 3) * 255).round().astype(np.uint32)
    colours = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])
    assert len(colours) > 200, f"only {len(colours)} distinct colours: figures did not draw"
