"""Write per-scene artefacts (JSON + H.264 videos + BEV PNG) and build the static HTML report.

Artefact layout (one folder per scene, written by ``inspatio-drive evaluate eval.artefacts=true`` or by
:func:`write_scene_artefacts`)::

    <root>/<token>/scene.json       # SceneArtefacts without the pixels; video file names per candidate
    <root>/<token>/bev.png          # candidates coloured by score, chosen ones marked
    <root>/<token>/c<k>_<panel>.mp4 # panel ∈ source | render | future | oracle, all with the same fps / T

The report (:func:`build_report`) is one ``index.html`` beside a ``scenes/`` copy of those folders, with
the scene data inlined as JSON: it opens from disk (``file://``), with no server and no network.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspatio_drive.viewer.video import write_mp4

PANELS: tuple[str, ...] = ("source", "render", "future", "oracle")
PANEL_TITLES: dict[str, str] = {
    "source": "source camera (logged)",
    "render": "render condition (geometric)",
    "future": "imagined future",
    "oracle": "oracle view (sandbox truth)",
}


@dataclass
class CandidateArtefact:
    """One candidate shown in the viewer.

    Attributes:
        index: candidate index in the planner's proposals.
        label: why it is shown (e.g. ``"base choice"``, ``"fc choice"``, ``"best by PDMS"``).
        pdms: its PDM score; ``subscores``: NC, DAC, DDC, TTC, EP, C (navsim names or short names).
        fc_prob: future-consistency probability, ``fc_features``: the FC features (name → value).
        videos: panel → uint8 ``[T, H, W, 3]`` (written to mp4) or an existing file name in the scene folder.
    """

    index: int
    label: str
    pdms: float
    subscores: dict[str, float] = field(default_factory=dict)
    fc_prob: float | None = None
    fc_features: dict[str, float] = field(default_factory=dict)
    videos: dict[str, Any] = field(default_factory=dict)


@dataclass
class SceneArtefacts:
    """What the viewer shows for one scene. ``scores``: variant (``base``, ``fc``) → PDMS of its choice;
    ``chosen``: variant → candidate index; ``generator``: what made the ``future`` panel
    (``geometric`` or ``inspatio``); ``mode``: ``honest`` or ``privileged``; ``metric``: the score's label shown
    with each candidate (``PDMS``, or ``EPDMS`` for ``evaluate metric=epdms``: the candidates' ``pdms`` field then
    holds their EPDMS and ``subscores`` the v2 sub-metrics)."""

    token: str
    fps: float
    candidates: list[CandidateArtefact]
    scores: dict[str, float] = field(default_factory=dict)
    chosen: dict[str, int] = field(default_factory=dict)
    mode: str = "honest"
    planner: str = ""
    generator: str = "geometric"
    camera: str = "CAM_F0"
    bev_png: bytes | str | Path | None = None
    metric: str = "PDMS"


def write_scene_artefacts(art: SceneArtefacts, root: str | Path) -> Path:
    """Write ``art`` under ``root/<token>/`` and return that folder. Every video of a candidate must have
    the same number of frames (frame-accurate sync)."""
    folder = Path(root) / art.token
    folder.mkdir(parents=True, exist_ok=True)
    meta = asdict(art)
    meta.pop("bev_png")
    meta["bev"] = None
    if art.bev_png is not None:
        if isinstance(art.bev_png, bytes):
            (folder / "bev.png").write_bytes(art.bev_png)
        else:
            shutil.copyfile(art.bev_png, folder / "bev.png")
        meta["bev"] = "bev.png"
    for cand, cand_meta in zip(art.candidates, meta["candidates"], strict=True):
        lengths = set()
        files = {}
        for panel, video in cand.videos.items():
            if panel not in PANELS:
                raise ValueError(f"scene {art.token}: unknown video panel {panel!r}; expected one of {PANELS}")
            if isinstance(video, (str, Path)):
                files[panel] = str(video)
                continue
            video = np.asarray(video)
            lengths.add(video.shape[0])
            name = f"c{cand.index}_{panel}.mp4"
            write_mp4(video, folder / name, fps=art.fps)
            files[panel] = name
        if len(lengths) > 1:
            raise ValueError(f"scene {art.token}, candidate {cand.index}: panels have different lengths {lengths}")
        cand_meta["videos"] = files
    tmp = folder / "scene.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1, default=float))
    tmp.replace(folder / "scene.json")
    return folder


def load_scene_folders(root: str | Path) -> list[dict[str, Any]]:
    """Read every ``<root>/<token>/scene.json`` (sorted by token)."""
    root = Path(root)
    scenes = []
    for path in sorted(root.glob("*/scene.json")):
        try:
            scenes.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return scenes


def build_report(
    artefacts_root: str | Path,
    out_dir: str | Path,
    title: str = "inspatio-drive report",
    summary: Sequence[Mapping[str, Any]] = (),
    scene_rows: Mapping[str, Mapping[str, Any]] | None = None,
    invalid: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Build ``out_dir/index.html`` from the scene folders under ``artefacts_root``.

    Args:
        summary: rows of the run's summary table (e.g. variant, scenes, mean PDMS and sub-scores).
        scene_rows: token → extra columns for the scene list (e.g. PDMS base / fc from the result CSV);
            scenes without artefacts are listed too, without a video panel.
        invalid: rows that could not be evaluated (``valid=False``; e.g. ``token``, ``variants``, ``error`` of
            the run's ``invalid.csv``), listed in their own table with the reason.

    A column prints as integers when its values are integers (:func:`integer_columns`), else with three decimals.
    Returns:
        The path of ``index.html``.
    """
    out_dir = Path(out_dir)
    scenes_dir = out_dir / "scenes"
    scenes = load_scene_folders(artefacts_root)
    if Path(artefacts_root).resolve() != scenes_dir.resolve():
        for scene in scenes:
            shutil.copytree(Path(artefacts_root) / scene["token"], scenes_dir / scene["token"], dirs_exist_ok=True)
    listed = {s["token"]: s for s in scenes}
    rows = []
    for token in sorted(set(listed) | set(scene_rows or {})):
        extra = dict((scene_rows or {}).get(token, {}))
        scene = listed.get(token)
        if scene is not None:
            for variant, score in scene.get("scores", {}).items():
                extra.setdefault(f"pdms_{variant}", score)
        rows.append({"token": token, "has_artefacts": scene is not None, **extra})
    invalid_list = [dict(r) for r in invalid]
    payload = {"title": title, "scenes": scenes, "rows": rows, "summary": list(summary), "invalid": invalid_list,
               "panels": list(PANELS), "panel_titles": PANEL_TITLES,
               "int_columns": {"summary": integer_columns(summary), "rows": integer_columns(rows),
                               "invalid": integer_columns(invalid_list),
                               "candidate": integer_columns([_candidate_details(c) for s in scenes
                                                             for c in s.get("candidates", [])])}}
    template = (Path(__file__).parent / "template.html").read_text()
    data = json.dumps(_finite(payload), default=_json_default, allow_nan=False).replace("</", "<\\/")
    page = template.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", data)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(page)
    return index


def integer_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of ``rows`` whose values are all integers: of an integral type (``int``, ``numpy`` integers; not
    ``bool``), or floats with an integral value (``6.0``). Missing / None / NaN values do not count; a key with no
    number at all is not an integer column."""
    seen: dict[str, bool] = {}
    for row in rows:
        for key, value in row.items():
            if value is None or isinstance(value, (str, bool, np.bool_)):
                if isinstance(value, (str, bool, np.bool_)):
                    seen[key] = False
                continue
            if isinstance(value, (int, np.integer)):
                seen.setdefault(key, True)
            elif isinstance(value, (float, np.floating)):
                if np.isnan(value):
                    continue
                seen[key] = seen.get(key, True) and bool(np.isfinite(value)) and float(value).is_integer()
            else:
                seen[key] = False
    return sorted(k for k, ok in seen.items() if ok)


def _candidate_details(cand: Mapping[str, Any]) -> dict[str, Any]:
    """The rows of the viewer's candidate table (label → value), as the template labels them."""
    out: dict[str, Any] = {"candidate": cand.get("index"), "PDMS": cand.get("pdms")}
    out.update(cand.get("subscores") or {})
    out["FC probability"] = cand.get("fc_prob")
    out.update({f"fc: {k}": v for k, v in (cand.get("fc_features") or {}).items()})
    return out


def _finite(value: Any) -> Any:
    """NaN / inf → ``None`` (JSON has no NaN), recursively."""
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
