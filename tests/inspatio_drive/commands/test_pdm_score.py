"""``inspatio-drive pdm-score`` CLI, candidate file formats, and the navsim backend's delegation and errors."""

import io
import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.commands.pdm_score import load_candidates, main
from inspatio_drive.pdm import navsim_backend
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.scorer import PDMResults, score_candidates

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


@pytest.fixture(scope="module")
def scene_c():
    return load_golden_scene(GOLDEN / "scene_c")


def test_cli_json_candidates_against_golden(scene_c, tmp_path):
    """Golden candidates.json + a saved metric cache → every candidate's navsim score within 1e-6."""
    scene_c.cache.save(tmp_path / "cache")
    out = tmp_path / "scores.json"
    rc = main(
        [
            f"candidates={GOLDEN / 'scene_c' / 'candidates.json'}",
            f"metric_cache={tmp_path / 'cache'}",
            f"output={out}",
        ]
    )
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["token"] == scene_c.cache.token and doc["num_candidates"] == len(scene_c.candidate_names)
    for row, gold in zip(doc["candidates"], scene_c.results, strict=True):
        assert row["name"] == gold["name"]
        for key, value in gold["pdm_results"].items():
            assert row[key] == pytest.approx(value, abs=1e-6), (row["name"], key)


def test_cli_npz_and_scorer_override(scene_c, tmp_path):
    scene_c.cache.save(tmp_path / "cache")
    np.savez(
        tmp_path / "c.npz", trajectories=scene_c.candidate_poses_local[:3], names=np.array(["a", "b", "c"])
    )
    out = tmp_path / "o.json"
    rc = main(
        [
            f"candidates={tmp_path / 'c.npz'}",
            f"metric_cache={tmp_path / 'cache'}",
            f"output={out}",
            "scorer.ttc_weight=0.0",
        ]
    )
    assert rc == 0
    rows = json.loads(out.read_text())["candidates"]
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    for r in rows:  # weights: EP 5, TTC 0, C 2 -> denominator 7
        expected = (
            r["no_at_fault_collisions"]
            * r["drivable_area_compliance"]
            * (5 * r["ego_progress"] + 2 * r["comfort"])
        )
        assert r["score"] == pytest.approx(expected / 7.0, abs=1e-12)


def test_cli_errors(scene_c, tmp_path, capsys):
    scene_c.cache.save(tmp_path / "cache")
    assert main([f"candidates={tmp_path / 'missing.json'}", f"metric_cache={tmp_path / 'cache'}"]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps([[[0.0, 0.0]] * 8]))
    assert main([f"candidates={tmp_path / 'bad.json'}", f"metric_cache={tmp_path / 'cache'}"]) == 2
    assert "[K, 8, 3]" in capsys.readouterr().err
    good = GOLDEN / "scene_c" / "candidates.json"
    assert main([f"candidates={good}", f"metric_cache={tmp_path / 'cache'}", "data.scene_token=nope"]) == 2
    assert "token" in capsys.readouterr().err
    assert main([f"candidates={good}"]) == 2
    assert "metric_cache" in capsys.readouterr().err


@pytest.mark.parametrize(
    "scene_dir, token", [("scene_a", "6a0246071aa0fcae"), ("scene_c", "a9a7495188971479")]
)
def test_cli_data_root_end_to_end(scene_dir, token, tmp_path):
    """Logs + GPKG map → metric cache (maps-cache builder) → scores equal navsim's golden numbers."""
    out = tmp_path / "o.json"
    cands = GOLDEN / scene_dir / "candidates.json"
    assert main([f"candidates={cands}", f"data.data_root={GOLDEN}", f"data.scene_token={token}", f"output={out}"]) == 0
    doc = json.loads(out.read_text())
    gold = json.loads((GOLDEN / scene_dir / "results.json").read_text())["results"]
    assert doc["token"] == token
    for row, g in zip(doc["candidates"], gold, strict=True):
        for key, value in g["pdm_results"].items():
            assert row[key] == pytest.approx(value, abs=1e-6), (row["name"], key)


def test_cli_store_and_unknown_token(scene_c, tmp_path, capsys):
    from inspatio_drive.pdm.cache.storage import MetricCacheStore

    store = MetricCacheStore.open(tmp_path / "store")
    store.save(scene_c.cache)
    store.write_manifest()
    cands = GOLDEN / "scene_c" / "candidates.json"
    out = tmp_path / "o.json"
    args = [f"candidates={cands}", f"metric_cache={tmp_path / 'store'}", f"output={out}"]
    assert main([*args, f"data.scene_token={scene_c.cache.token}"]) == 0
    assert json.loads(out.read_text())["num_candidates"] == len(scene_c.candidate_names)
    assert main([*args, "data.scene_token=0000"]) == 2
    assert "no entry" in capsys.readouterr().err
    assert main([f"candidates={cands}", f"data.data_root={GOLDEN}", "data.scene_token=0000"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_refuses_other_samplings_unless_resampling_is_asked(scene_c, tmp_path, capsys):
    """[K, 16, 3] at 0.25 s is refused (it would be scored as 8 s at 0.5 s); with candidates_resample it is
    resampled, said on stderr and in the JSON, and scores as the 0.5 s poses it passes through."""
    scene_c.cache.save(tmp_path / "cache")
    poses = scene_c.candidate_poses_local[:3]
    keys = np.concatenate([np.zeros((3, 1, 3)), poses], axis=1)
    fine = np.empty((3, 16, 3))
    fine[:, 1::2] = poses
    fine[:, 0::2] = 0.5 * (keys[:, :-1] + keys[:, 1:])  # any in-between pose: the 0.5 s keys are what counts
    np.save(tmp_path / "fine.npy", fine)
    base = [f"candidates={tmp_path / 'fine.npy'}", f"metric_cache={tmp_path / 'cache'}"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "expected [K, 8, 3] poses at 0.5 s" in err and "got [K, 16, 3]" in err and "candidates_resample=true" in err
    out = tmp_path / "r.json"
    assert main([*base, "candidates_interval_s=0.25", "candidates_resample=true", f"output={out}"]) == 0
    assert "resampled 3 candidates from 16 poses at 0.25 s" in capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert "from 16 poses at 0.25 s to 8 poses at 0.5 s" in doc["candidates_resampled"]
    direct = score_candidates(scene_c.cache, poses).to_rows()
    assert [r["score"] for r in doc["candidates"]] == pytest.approx([r["score"] for r in direct], abs=1e-9)


def test_load_candidates_formats(tmp_path):
    arr = np.arange(2 * 8 * 3, dtype=float).reshape(2, 8, 3)
    (tmp_path / "a.json").write_text(json.dumps({"trajectories": arr.tolist(), "names": ["x", "y"]}))
    traj, names = load_candidates(tmp_path / "a.json")
    np.testing.assert_array_equal(traj, arr)
    assert names == ["x", "y"]
    np.save(tmp_path / "raw.npy", arr)  # .npy: the format render takes too
    np.testing.assert_array_equal(load_candidates(tmp_path / "raw.npy")[0], arr)
    (tmp_path / "raw.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unknown candidates format"):
        load_candidates(tmp_path / "raw.txt")
    (tmp_path / "n.json").write_text('{"trajectories": [' + ",".join(["[NaN, 0, 0]"] * 8) + "]}")
    with pytest.raises(ValueError, match="NaN"):
        load_candidates(tmp_path / "n.json")


def test_navsim_backend_missing_is_clear(scene_c):
    if navsim_backend.navsim_available():
        pytest.skip("navsim is installed here")
    with pytest.raises(navsim_backend.NavsimNotAvailableError, match=r"navsim v1\.1"):
        navsim_backend.score_candidates(object(), scene_c.candidate_poses_local)


def test_navsim_cache_unpickler_refuses_code():
    payload = pickle.dumps(print)  # builtins.print: not an allowed class
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        navsim_backend._NavsimCacheUnpickler(io.BytesIO(payload)).load()


def _fake_navsim(monkeypatch, scene):
    """Install a stand-in for navsim's modules that scores with our implementation (tests the delegation)."""

    class Sampling:
        def __init__(self, num_poses, interval_length):
            self.num_poses, self.interval_length = num_poses, interval_length

    class Trajectory:
        def __init__(self, poses, sampling):
            self.poses, self.sampling = poses, sampling

    class Scorer:
        def __init__(self, sampling):
            self.sampling = sampling

    class Simulator:
        def __init__(self, sampling):
            self.proposal_sampling = sampling

    def pdm_score(cache, trajectory, sampling, simulator, scorer):
        res = score_candidates(cache, trajectory.poses[None])
        scorer._progress_raw = np.array([res.reference["progress_raw_m"], res.progress_raw_m[0]])
        scorer._collision_time_idcs = np.array([np.inf, res.at_fault_collision_step[0]], dtype=float)
        scorer._collision_time_idcs[scorer._collision_time_idcs < 0] = np.inf
        scorer._ttc_time_idcs = np.array([np.inf, res.ttc_infraction_step[0]], dtype=float)
        scorer._ttc_time_idcs[scorer._ttc_time_idcs < 0] = np.inf
        scorer._states = np.stack([res.reference["states"], res.states[0]])
        scorer._ego_areas = np.stack([res.ego_areas[0], res.ego_areas[0]])
        scorer._checks = np.stack([res.comfort_checks[0], res.comfort_checks[0]])
        return types.SimpleNamespace(**{k: getattr(res, k)[0] for k in PDMResults.SUBSCORES})

    def ego_is_comfortable(states, times):
        from inspatio_drive.pdm.comfort import comfort_checks

        return comfort_checks(states)

    mods = {
        "navsim": types.ModuleType("navsim"),
        "navsim.common.dataclasses": types.SimpleNamespace(Trajectory=Trajectory),
        "navsim.evaluate.pdm_score": types.SimpleNamespace(pdm_score=pdm_score),
        "navsim.planning.simulation.planner.pdm_planner.scoring.pdm_comfort_metrics": types.SimpleNamespace(
            ego_is_comfortable=ego_is_comfortable
        ),
        "navsim.planning.simulation.planner.pdm_planner.scoring.pdm_scorer": types.SimpleNamespace(
            PDMScorer=Scorer
        ),
        "navsim.planning.simulation.planner.pdm_planner.simulation.pdm_simulator": types.SimpleNamespace(
            PDMSimulator=Simulator
        ),
        "nuplan.planning.simulation.trajectory.trajectory_sampling": types.SimpleNamespace(
            TrajectorySampling=Sampling
        ),
    }
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)


def test_navsim_backend_gathers_results(scene_c, monkeypatch):
    _fake_navsim(monkeypatch, scene_c)
    ours = score_candidates(scene_c.cache, scene_c.candidate_poses_local)
    theirs = navsim_backend.score_candidates(
        scene_c.cache, scene_c.candidate_poses_local, names=scene_c.candidate_names
    )
    for key in PDMResults.SUBSCORES:
        np.testing.assert_allclose(getattr(theirs, key), getattr(ours, key), atol=1e-12)
    np.testing.assert_array_equal(theirs.at_fault_collision_step, ours.at_fault_collision_step)
    np.testing.assert_array_equal(theirs.ttc_infraction_step, ours.ttc_infraction_step)
    assert theirs.to_rows()[4]["name"] == scene_c.candidate_names[4]


def test_bench_command_runs(tmp_path):
    from inspatio_drive.commands.bench_pdm import main as bench_main
    from inspatio_drive.commands.bench_pdm import make_candidates

    out = tmp_path / "bench.json"
    args = ["num_candidates=4", "repeats=1", "warmup=0", "build_cache=false", f"output={out}"]
    assert bench_main(args) == 0
    rows = json.loads(out.read_text())["scoring"]
    assert [r["scene"] for r in rows] == ["scene_a", "scene_c"]
    assert all(r["num_candidates"] == 4 and r["score_ms_median"] > 0 and r["score_cpu_ms"] > 0 for r in rows)
    seed = np.zeros((3, 8, 3))
    cands = make_candidates(seed, 7, seed=1)
    assert cands.shape == (7, 8, 3) and np.all(cands[:3] == 0) and np.any(cands[3:] != 0)


def test_cli_navsim_backend_without_navsim(tmp_path, capsys):
    if navsim_backend.navsim_available():
        pytest.skip("navsim is installed here")
    cands = GOLDEN / "scene_c" / "candidates.json"
    rc = main([f"candidates={cands}", "backend=navsim", f"metric_cache={tmp_path / 'metric_cache.pkl'}"])
    assert rc == 2
    assert "nuplan-devkit" in capsys.readouterr().err


def test_cli_simulation_backend_override(scene_c, tmp_path):
    """``scorer.simulation_backend=numpy`` (reference loop) gives the same sub-scores as the compiled one."""
    scene_c.cache.save(tmp_path / "cache")
    good = GOLDEN / "scene_c" / "candidates.json"
    docs = {}
    for backend in ("numpy", "numba"):
        out = tmp_path / f"{backend}.json"
        args = [f"candidates={good}", f"metric_cache={tmp_path / 'cache'}", f"output={out}"]
        assert main([*args, f"scorer.simulation_backend={backend}"]) == 0
        docs[backend] = json.loads(out.read_text())["candidates"]
    for a, b in zip(docs["numpy"], docs["numba"], strict=True):
        for key in (
            "no_at_fault_collisions",
            "drivable_area_compliance",
            "comfort",
            "time_to_collision_within_bound",
        ):
            assert a[key] == b[key]
        assert a["score"] == pytest.approx(b["score"], abs=1e-12)
