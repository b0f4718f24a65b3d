"""The static report in a real headless Chromium: panels load (H.264 decodes), Space plays all videos
together, the seek bar and the arrow keys move every panel to the same frame."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.viewer import (
    CandidateArtefact,
    SceneArtefacts,
    build_report,
    read_mp4,
    write_scene_artefacts,
)

FPS = 4.0
T = 12
LEVEL = 18  # grey level step per frame; panels add an offset so a mix-up is visible


def _video(offset: int, h: int = 48, w: int = 64) -> np.ndarray:
    frames = np.zeros((T, h, w, 3), np.uint8)
    for i in range(T):
        frames[i] = LEVEL * i + offset
    return frames


def _scene(token: str) -> SceneArtefacts:
    videos = {"source": _video(0), "render": _video(4), "future": _video(8), "oracle": _video(12)}
    cands = [
        CandidateArtefact(3, "base choice", 0.61, {"NC": 1.0, "DAC": 0.0}, 0.2, {"clearance_m": 0.4}, videos),
        CandidateArtefact(7, "fc choice", float("nan"), {"NC": 1.0, "DAC": 1.0}, 0.9, {"clearance_m": 2.5},
                          {"source": _video(0), "future": _video(8)}),
    ]
    return SceneArtefacts(token, FPS, cands, {"base": 0.61, "fc": 0.93}, {"base": 3, "fc": 7}, planner="vocab")


def test_artefacts_round_trip(tmp_path):
    folder = write_scene_artefacts(_scene("tok_a"), tmp_path)
    meta = json.loads((folder / "scene.json").read_text())
    assert meta["candidates"][0]["videos"]["render"] == "c3_render.mp4"
    frames, fps = read_mp4(folder / "c3_render.mp4")
    assert frames.shape == (T, 48, 64, 3) and fps == pytest.approx(FPS)
    assert np.abs(frames[:, 24, 32, 0].astype(int) - (LEVEL * np.arange(T) + 4)).max() <= 3
    bad = _scene("tok_b")
    bad.candidates[0].videos["render"] = _video(4)[:5]
    with pytest.raises(ValueError, match="different lengths"):
        write_scene_artefacts(bad, tmp_path)
    with pytest.raises(ValueError, match="unknown video panel"):
        bad.candidates[0].videos = {"lidar": _video(0)}
        write_scene_artefacts(bad, tmp_path)


def test_report_html_is_self_contained(tmp_path):
    write_scene_artefacts(_scene("tok_a"), tmp_path / "art")
    index = build_report(tmp_path / "art", tmp_path / "report", scene_rows={"tok_z": {"pdms_base": 0.5}})
    page = index.read_text()
    assert "http://" not in page and "https://" not in page  # no CDN, no network
    assert (tmp_path / "report/scenes/tok_a/c3_future.mp4").exists()
    data = json.loads(page.split('id="report-data">')[1].split("</script>")[0])
    assert [r["token"] for r in data["rows"]] == ["tok_a", "tok_z"]
    assert data["scenes"][0]["candidates"][1]["pdms"] is None  # NaN → null, valid JSON


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium executable (make test installs Debian's chromium; or set CHROMIUM_PATH)")
    return path


FRAME_JS = """() => {
  const out = [];
  for (const v of window.inspatioViewer.videos()) {
    const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d'); g.drawImage(v, 0, 0);
    out.push({panel: v.dataset.panel, t: v.currentTime, paused: v.paused,
              grey: g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data[0]});
  }
  return out;
}"""


def _frames_shown(page) -> dict[str, int]:
    offsets = {"source": 0, "render": 4, "future": 8, "oracle": 12}
    return {s["panel"]: round((s["grey"] - offsets[s["panel"]]) / LEVEL) for s in page.evaluate(FRAME_JS)}


def _wait_seeked(page) -> None:
    page.wait_for_function("() => window.inspatioViewer.videos().every(v => !v.seeking && v.readyState >= 2)")


def test_report_in_headless_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    write_scene_artefacts(_scene("tok_a"), tmp_path / "art")
    index = build_report(tmp_path / "art", tmp_path / "report")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                                                                  "--allow-file-access-from-files"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(index.as_uri())
        page.wait_for_function("() => window.inspatioViewer.videos().length === 4 && "
                               "window.inspatioViewer.videos().every(v => v.readyState >= 2 && v.videoWidth > 0)",
                               timeout=20000)
        _wait_seeked(page)
        assert set(_frames_shown(page).values()) == {0}

        page.keyboard.press("Space")  # all panels start together
        page.wait_for_function("() => window.inspatioViewer.videos().every(v => !v.paused && v.currentTime > 0.3)",
                               timeout=10000)
        page.keyboard.press("Space")
        states = page.evaluate(FRAME_JS)
        assert all(s["paused"] for s in states)
        times = [s["t"] for s in states]
        assert max(times) - min(times) < 0.5 / FPS  # same frame in every panel

        page.fill("#seek", "7")  # seek bar moves every panel to frame 7
        page.dispatch_event("#seek", "input")
        _wait_seeked(page)
        assert _frames_shown(page) == dict.fromkeys(("source", "render", "future", "oracle"), 7)

        page.keyboard.press("ArrowRight")  # one frame forward in every panel
        _wait_seeked(page)
        assert _frames_shown(page) == dict.fromkeys(("source", "render", "future", "oracle"), 8)
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        _wait_seeked(page)
        assert set(_frames_shown(page).values()) == {6}
        assert page.inner_text("#frame") == "frame 6 / 11"

        page.click("#cand-buttons button:nth-child(2)")  # the second candidate has two panels
        page.wait_for_function("() => window.inspatioViewer.videos().length === 2")
        shot = tmp_path / "viewer.png"
        page.screenshot(path=str(shot))
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("INSPATIO_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["INSPATIO_SCREENSHOT_DIR"]) / "viewer.png")


def test_report_tables_fit_a_laptop_screen(tmp_path):
    """At 1366 px the scene table (token + PDMS of four variants) is not cut off, and counts read as integers."""
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    write_scene_artefacts(_scene("tok_a"), tmp_path / "art")
    variants = ("base", "fc", "fc_only", "oracle")
    rows = {f"{i:032x}": {f"pdms_{v}": 0.5 + 0.01 * i for v in variants} for i in range(6)}
    summary = [{"variant": v, "scenes": 6, "PDMS": 0.5, "ci_low": 0.4, "ci_high": 0.6} for v in variants]
    index = build_report(tmp_path / "art", tmp_path / "report", summary=summary, scene_rows=rows)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(index.as_uri())
        page.wait_for_selector("#scene-list tr:nth-child(7)")
        fit = page.evaluate("""() => {
          const side = document.getElementById('sidebar');
          const s = side.getBoundingClientRect();
          const right = (id) => document.getElementById(id).getBoundingClientRect().right;
          return {scroll: side.scrollWidth, client: side.clientWidth, side: s.right,
                  list: right('scene-list'), summary: right('summary'), width: window.innerWidth};
        }""")
        scenes = page.inner_text("#summary tr:nth-child(2) td:nth-child(2)")
        shot = tmp_path / "laptop.png"
        page.screenshot(path=str(shot))
        browser.close()
    assert fit["scroll"] <= fit["client"], fit  # nothing to scroll sideways: no column cut off
    assert fit["list"] <= fit["side"] and fit["summary"] <= fit["side"], fit
    assert fit["side"] <= fit["width"] / 2 + 1, fit  # the videos keep at least half of the screen
    assert scenes == "6"
    if os.environ.get("INSPATIO_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["INSPATIO_SCREENSHOT_DIR"]) / "viewer_laptop.png")


def test_run_report_cli(tmp_path, capsys):
    from inspatio_drive.commands.cli import main
    from inspatio_drive.evaluation import ResultStore

    store = ResultStore(tmp_path / "run")
    store.append([{"token": "tok_a", "variant": v, "valid": True, "score": s} for v, s in (("base", 0.6), ("fc", 0.9))])
    write_scene_artefacts(_scene("tok_a"), tmp_path / "run" / "artefacts")
    assert main(["report", f"run_dir={tmp_path / 'run'}"]) == 0
    index = tmp_path / "run" / "report" / "index.html"
    assert str(index) in capsys.readouterr().out
    data = json.loads(index.read_text().split('id="report-data">')[1].split("</script>")[0])
    assert data["rows"][0]["pdms_fc"] == 0.9 and {r["variant"] for r in data["summary"]} == {"base", "fc"}
    assert main(["report", f"run_dir={tmp_path / 'nothing'}"]) == 2


def test_integer_columns_are_decided_by_the_values():
    from inspatio_drive.viewer.report import integer_columns

    rows = [{"episodes": 6.0, "k": np.int64(64), "PDMS": 0.5, "name": "a", "gap": None, "flag": True, "mixed": 1},
            {"episodes": 12.0, "k": 32, "PDMS": 1.0, "name": "b", "gap": float("nan"), "flag": False, "mixed": 1.5}]
    assert integer_columns(rows) == ["episodes", "k"]
    assert integer_columns([{"all_missing": None}]) == []


def test_report_prints_integers_by_value_and_lists_invalid_rows(tmp_path):
    """A column of integral values (whatever its name) reads as integers, other numbers with three decimals; the
    rows that could not be evaluated are listed with their reason."""
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    write_scene_artefacts(_scene("tok_a"), tmp_path / "art")
    summary = [{"variant": "base", "episodes": 6.0, "PDMS": 0.5}]
    rows = {"tok_a": {"num_proposals": 64.0, "pdms_base": 0.61}}
    invalid = [{"token": "tok_bad", "variants": "base fc", "error": "LogFormatError: bad.pkl frame 3: gt_velocity_3d"}]
    index = build_report(tmp_path / "art", tmp_path / "report", summary=summary, scene_rows=rows, invalid=invalid)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(index.as_uri())
        page.wait_for_selector("#scene-list tr:nth-child(2)")
        summary_cells = page.eval_on_selector_all("#summary tr:nth-child(2) td", "tds => tds.map(t => t.textContent)")
        head = page.eval_on_selector_all("#scene-list tr:first-child th", "ths => ths.map(t => t.textContent)")
        cells = page.eval_on_selector_all("#scene-list tr:nth-child(2) td", "tds => tds.map(t => t.textContent)")
        shown = page.is_visible("#invalid-section")
        invalid_text = page.inner_text("#invalid")
        browser.close()
    assert summary_cells == ["base", "6", "0.500"]
    assert cells[head.index("num_proposals")] == "64" and cells[head.index("pdms_base")] == "0.610"
    assert shown and "tok_bad" in invalid_text and "gt_velocity_3d" in invalid_text and "base fc" in invalid_text


def test_run_report_lists_the_runs_invalid_rows(tmp_path):
    from inspatio_drive.evaluation import ResultStore
    from inspatio_drive.evaluation.report import write_run_report

    store = ResultStore(tmp_path / "run")
    store.append([{"token": "tok_a", "variant": "base", "valid": True, "score": 0.6},
                  {"token": "tok_b", "variant": "base", "valid": False, "score": None, "error": "bad log"}])
    (tmp_path / "run" / "invalid.csv").write_text("token,variants,error\ntok_b,base,bad log\n")
    index = write_run_report(tmp_path / "run")
    data = json.loads(index.read_text().split('id="report-data">')[1].split("</script>")[0])
    assert data["invalid"] == [{"token": "tok_b", "variants": "base", "error": "bad log"}]
