"""Golden NAVSIM scenes A and C (tests/data/golden/pdms) as :class:`Scene` objects, read from the log pickles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pyquaternion import Quaternion

from inspatio_drive.data.safe_pickle import safe_load
from inspatio_drive.data.types import Annotations, EgoStatus, Frame, Lidar, Scene, SceneMetadata

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "pdms"
SCENES = {"a": "golden_a", "c": "golden_c"}


def _frame(d: dict[str, Any]) -> Frame:
    """Minimal OpenScene frame dict → Frame (only what the metric cache needs; no sensors)."""
    q = Quaternion(*np.asarray(d["ego2global_rotation"], dtype=np.float64))
    pose = np.array([*np.asarray(d["ego2global_translation"], dtype=np.float64)[:2], q.yaw_pitch_roll[0]])
    dyn = np.asarray(d["ego_dynamic_state"], dtype=np.float32)
    anns = d["anns"]
    return Frame(
        token=d["token"],
        timestamp=int(d["timestamp"]),
        roadblock_ids=[str(x) for x in d["roadblock_ids"]],
        traffic_lights=[(int(a), bool(b)) for a, b in d["traffic_lights"]],
        annotations=Annotations(
            boxes=np.asarray(anns["gt_boxes"], dtype=np.float64).reshape(-1, 7),
            names=list(anns["gt_names"]),
            velocity_3d=np.asarray(anns["gt_velocity_3d"], dtype=np.float64).reshape(-1, 3),
            instance_tokens=list(anns["instance_tokens"]),
            track_tokens=list(anns["track_tokens"]),
        ),
        ego_status=EgoStatus(pose, dyn[:2], dyn[2:4], np.asarray(d["driving_command"]), in_global_frame=True),
        lidar=Lidar(None),
        cameras={},
    )


def load_golden_scene_input(name: str) -> Scene:
    log_dir = GOLDEN / "navsim_logs" / SCENES[name]
    (path,) = sorted(log_dir.glob("*.pkl"))
    frames = safe_load(path)
    meta = SceneMetadata(
        log_name=frames[0]["log_name"],
        scene_token=frames[3]["token"],
        map_name=frames[0]["map_location"],
        initial_token=frames[0]["token"],
        num_history_frames=4,
        num_future_frames=10,
    )
    return Scene(meta, [_frame(f) for f in frames])
