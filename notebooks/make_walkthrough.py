"""Writes ``walkthrough.ipynb`` (the source of truth for the notebook is this file; the test suite executes the
notebook on the bundled sandbox sample). Run: ``python notebooks/make_walkthrough.py``."""

from pathlib import Path

import nbformat as nbf

CELLS = [
    ("md", """# inspatio-drive walkthrough

*What would the car see if it drove this way?* One scene of the bundled sandbox sample, end to end:
**scene → candidate trajectories → camera poses → geometric futures → future-consistency features → PDM score.**
Everything runs on CPU in about a minute; no weights are downloaded."""),
    ("code", """%matplotlib inline
import numpy as np, torch
import matplotlib.pyplot as plt
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from inspatio_drive.data import SceneLoader, SceneFilter, SensorConfig
root = sample_root()
loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT, SceneFilter(),
                     SensorConfig.build_all_sensors(), show_progress=False)
token = loader.tokens[0]
scene = loader.get_scene_from_token(token)
agent_input = loader.get_agent_input_from_token(token)
print(token, scene.scene_metadata.map_name, len(scene.frames), "frames")"""),
    ("md", """## 1. The scene, as a NAVSIM agent sees it
Four history frames (−1.5 … 0 s); ego poses relative to the current rear axle (x forward, y left)."""),
    ("code", """fig, axes = plt.subplots(1, 4, figsize=(16, 2.6))
for ax, name in zip(axes, ["CAM_L0", "CAM_F0", "CAM_R0", "CAM_B0"]):
    ax.imshow(agent_input.cameras[-1][name].image); ax.set_title(name); ax.axis("off")
plt.show()
print(np.stack([s.ego_pose for s in agent_input.ego_statuses]).round(2))"""),
    ("md", """## 2. Candidate trajectories
A fan of constant-turn candidates `[K, 8, 3]` (x, y, heading at 0.5 … 4 s), scored by the honest rule scorer
(LiDAR free space, ego status, command); DrivoR's selection formula picks one."""),
    ("code", """from planners.constant_velocity import ConstantVelocityPlanner
from planners.protocol import ScoredPlanner
from planners.scoring import RuleBasedScorer
from planners.pipeline import PlanningPipeline
planner = ScoredPlanner(ConstantVelocityPlanner(yaw_rates=(-0.3, -0.15, 0.0, 0.15, 0.3), speed_factors=(0.5, 1.0, 1.3)),
                        RuleBasedScorer())
candidates = planner.propose(agent_input)
print(candidates.poses.shape, sorted(candidates.logits))"""),
    ("md", """## 3. Camera poses along every candidate
Ego poses → camera-to-ego0 poses `[K, T, C, 4, 4]` through each camera's camera→ego extrinsics (OpenCV axes).
Driving straight ahead moves CAM_F0 along its own +z."""),
    ("code", """from inspatio_drive.geometry.camera_poses import camera_to_ego0
from inspatio_drive.render.types import render_cameras  # intrinsics at the loaded image size
cams = render_cameras(agent_input.cameras[-1], ["CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"])
T = camera_to_ego0(candidates.poses.double(), cams.T_ego_cam)
print(T.shape)
straight = 3 * 2 + 1  # speed 1.0, yaw rate 0
f0_t0 = torch.linalg.inv(cams.T_ego_cam[0])
print("CAM_F0 displacement in its own frame after 4 s:", (f0_t0 @ T[straight, -1, 0])[:3, 3].numpy().round(2))"""),
    ("md", """## 4. Geometric futures
The history LiDAR sweeps, motion-compensated into the current ego frame and coloured from the camera images,
are splatted with a z-buffer into every candidate × time × camera view."""),
    ("code", """from inspatio_drive.render import build_point_cloud, render_candidates
points = build_point_cloud(agent_input, cameras=["CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"])
batch = render_candidates(points, candidates.poses, cams, (320, 180), splat=2, hole_fill=2)
print(batch.shape, "valid share", float(batch.valid.float().mean()))
fig, axes = plt.subplots(3, 4, figsize=(16, 7))
for row, k in enumerate([1, straight, 13]):
    for col, t in enumerate([0, 2, 5, 7]):
        axes[row, col].imshow(batch.rgb[k, t, 0].permute(1, 2, 0).numpy()); axes[row, col].axis("off")
        axes[row, col].set_title(f"candidate {k}, t = {0.5 * (t + 1):.1f} s", fontsize=9)
plt.show()"""),
    ("md", """## 5. Future-consistency features
Per candidate: free space along the swept footprint, how much of the imagined view is backed by observed
geometry, and the consistency of consecutive imagined frames (units and ranges in the scorer's feature table)."""),
    ("code", """from scorers.geometric import GeometricFC
fc = GeometricFC(head=None, image_size=(160, 90))(agent_input, candidates)
for name, values in sorted(fc.features.items()):
    print(f"{name:32s}", values.numpy().round(2))"""),
    ("md", """## 6. PDM score of every candidate
The NAVSIM v1.1 PDM score, re-implemented: metric cache (PDM-Closed, drivable area, observation) from the
log and the GPKG map, LQR + bicycle simulation, sub-scores."""),
    ("code", """from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.bev import plot_bev
from inspatio_drive.pdm.scorer import score_candidates
cache = build_metric_cache(scene, load_map(root / "maps", scene.scene_metadata.map_name))
results = score_candidates(cache, candidates.poses.double().numpy())
plan = PlanningPipeline(planner).plan(agent_input)
print("PDMS per candidate:", results.score.round(2))
print("chosen:", plan.base_index, "PDMS", round(float(results.score[plan.base_index]), 3),
      "| best of K:", round(float(results.score.max()), 3))
plot_bev(cache, candidates.poses.numpy(), results.score, chosen=plan.base_index, title=token)
plt.show()"""),
]


def build() -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in CELLS]
    return nb


if __name__ == "__main__":
    out = Path(__file__).with_name("walkthrough.ipynb")
    nbf.write(build(), out)
    print(out)
