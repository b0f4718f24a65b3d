"""The privileged oracle on a golden NAVSIM scene, through the real ``inspatio_drive.pdm.score_candidates``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inspatio_drive.contracts import Candidates
from inspatio_drive.contracts.selection import DRIVOR_V1, select
from inspatio_drive.pdm.golden import load_golden_scene
from planners.scoring import PDM_FIELDS, PDMOracleScorer

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "pdms"


@pytest.mark.parametrize("scene_name", ["scene_a", "scene_c"])
def test_oracle_selects_navsims_best_candidate(scene_name):
    scene = load_golden_scene(GOLDEN / scene_name)
    cands = Candidates(torch.as_tensor(scene.candidate_poses_local, dtype=torch.float32))
    scored = PDMOracleScorer()(cands, scene.cache)  # default score_fn: inspatio_drive.pdm.score_candidates
    navsim = {n: np.array([r["pdm_results"][f] for r in scene.results]) for n, f in PDM_FIELDS.items()}
    navsim_score = np.array([r["pdm_results"]["score"] for r in scene.results])
    for name in PDM_FIELDS:  # the oracle's sub-scores are navsim's (to the pdm room's parity tolerance)
        np.testing.assert_allclose(scored.extras["pdm_subscores"][name].numpy(), navsim[name], atol=1e-4)
    idx = int(select(scored, DRIVOR_V1).index)
    assert navsim_score[idx] == pytest.approx(navsim_score.max(), abs=1e-6)
    assert navsim_score.max() > np.median(navsim_score)  # the choice is not trivial
