"""Static HTML result viewer: scene list, BEV plots and synced video panels (source, render condition,
imagined future, oracle) per candidate. Opens from disk: no server, no internet, no CDN assets."""

from inspatio_drive.viewer.report import (
    CandidateArtefact,
    SceneArtefacts,
    build_report,
    write_scene_artefacts,
)
from inspatio_drive.viewer.video import read_mp4, write_mp4

__all__ = ["CandidateArtefact", "SceneArtefacts", "build_report", "read_mp4", "write_mp4", "write_scene_artefacts"]
