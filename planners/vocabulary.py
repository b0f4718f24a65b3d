"""Trajectory-vocabulary planner: candidates clustered from logged ego futures, per command and speed.

Vocabulary (built once per split, ``inspatio-drive build-vocab``): for every driving command
(left, straight, right, unknown; NAVSIM's one-hot order) and current-speed bin, the ``K`` (64) k-means
centres of the logged 4 s futures ``[8, 3]`` (x, y, heading in the current rear-axle frame) of the scenes
whose current state falls in that cell. A cell with fewer than ``K`` samples borrows the samples nearest to
it: same command, nearest speed bins first, then other commands. At run time the planner looks up the cell
of the current command and speed (``‖(vx, vy)‖`` of the last ego status) and returns its ``K`` trajectories;
an optional scorer (:mod:`planners.scoring`) attaches sub-score logits.

File format (``.safetensors``): ``trajectories`` float32 ``[4, S, K, T, 3]``, ``speed_edges`` float32
``[S - 1]`` (m/s, inner bin edges, ``bin = searchsorted(edges, speed, right=True)``), ``counts`` int64
``[4, S]`` (own samples per cell); metadata ``interval_length``, ``num_samples``, ``source``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from omegaconf import OmegaConf
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from inspatio_drive.config import portable_paths
from inspatio_drive.contracts import Candidates
from inspatio_drive.data import scene_loader_from_config
from inspatio_drive.data.roots import SAMPLE_SPLIT
from inspatio_drive.data.types import AgentInput, Scene
from planners.protocol import SensorNeeds, sensor_needs

COMMANDS: tuple[str, ...] = ("left", "straight", "right", "unknown")
DEFAULT_SPEED_EDGES: tuple[float, ...] = (1.0, 4.0, 8.0, 12.0)  # m/s: S = 5 bins


def command_index(one_hot: ArrayLike) -> int:
    """Index into :data:`COMMANDS` of a NAVSIM driving-command one-hot ``[4]`` (all zeros -> unknown)."""
    c = np.asarray(one_hot).reshape(-1)
    if c.shape != (4,):
        raise ValueError(
            f"driving_command: expected a one-hot [4] (left, straight, right, unknown), got {c.shape}"
        )
    return int(np.argmax(c)) if c.any() else 3


def kmeans(data: NDArray[np.float64], k: int, seed: int = 0, iters: int = 50) -> NDArray[np.float64]:
    """Lloyd's k-means with k-means++ seeding; empty clusters are re-seeded at the worst-fit point.

    Args:
        data: ``[N, D]`` with ``N >= k``.

    Returns:
        ``[k, D]`` centres (deterministic for a seed).
    """
    n = len(data)
    if n < k:
        raise ValueError(f"kmeans: {n} samples for {k} clusters")
    rng = np.random.default_rng(seed)
    centres = np.empty((k, data.shape[1]))
    centres[0] = data[rng.integers(n)]
    d2 = ((data - centres[0]) ** 2).sum(1)
    for i in range(1, k):
        total = d2.sum()
        idx = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centres[i] = data[idx]
        d2 = np.minimum(d2, ((data - centres[i]) ** 2).sum(1))
    for _ in range(iters):
        dist = ((data[:, None, :] - centres[None]) ** 2).sum(-1)  # [N, k]
        label = dist.argmin(1)
        new = np.zeros_like(centres)
        np.add.at(new, label, data)
        count = np.bincount(label, minlength=k)
        empty = count == 0
        new[~empty] /= count[~empty, None]
        if empty.any():
            worst = np.argsort(-dist[np.arange(n), label])[: int(empty.sum())]
            new[empty] = data[worst]
        if np.allclose(new, centres):
            centres = new
            break
        centres = new
    return centres


@dataclass
class Vocabulary:
    """Clustered trajectories per (command, speed bin); see the module docstring for the layout."""

    trajectories: torch.Tensor  # float32 [4, S, K, T, 3]
    speed_edges: torch.Tensor  # float32 [S - 1]
    counts: torch.Tensor  # int64 [4, S]
    interval_length: float = 0.5
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.trajectories
        if t.ndim != 5 or t.shape[0] != len(COMMANDS) or t.shape[-1] != 3:
            raise ValueError(f"Vocabulary.trajectories: expected [4, S, K, T, 3], got {tuple(t.shape)}")
        if self.speed_edges.shape != (t.shape[1] - 1,):
            raise ValueError(
                f"Vocabulary.speed_edges: expected [{t.shape[1] - 1}], got {tuple(self.speed_edges.shape)}"
            )

    @property
    def num_candidates(self) -> int:
        return int(self.trajectories.shape[2])

    def speed_bin(self, speed: float) -> int:
        return int(np.searchsorted(self.speed_edges.numpy(), speed, side="right"))

    def lookup(self, command: int, speed: float) -> torch.Tensor:
        """``[K, T, 3]`` trajectories for a command index and a speed (m/s)."""
        return self.trajectories[command, self.speed_bin(speed)]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {
            "trajectories": self.trajectories.float().contiguous(),
            "speed_edges": self.speed_edges.float().contiguous(),
            "counts": self.counts.long().contiguous(),
        }

        meta = {"interval_length": str(self.interval_length), "meta": json.dumps(portable_paths(self.meta))}
        save_file(tensors, str(path), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary file.

        Raises:
            FileNotFoundError / ValueError: missing file or missing / mis-shaped tensors.
        """

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"vocabulary {path}: no such file (build one with `inspatio-drive build-vocab`)"
            )
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            need = {"trajectories", "speed_edges", "counts"}
            if not need <= keys:
                raise ValueError(f"vocabulary {path}: missing tensors {sorted(need - keys)}")
            md = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in need}
        try:
            return cls(
                tensors["trajectories"], tensors["speed_edges"], tensors["counts"],
                float(md.get("interval_length", 0.5)), json.loads(md.get("meta", "{}")),
            )  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"vocabulary {path}: {exc}") from exc


def _cell_pool(
    commands: NDArray[np.int64], bins: NDArray[np.int64], c: int, s: int, k: int
) -> NDArray[np.int64]:
    """Sample indices for cell (c, s): whole groups in order of (other command, speed-bin distance)
    until at least ``k`` samples."""
    priority = (commands != c) * 1000 + np.abs(bins - s)
    order = np.argsort(priority, kind="stable")
    kth = priority[order[k - 1]]
    return order[priority[order] <= kth]


def build_vocabulary(
    futures: ArrayLike,
    speeds: ArrayLike,
    commands: ArrayLike,
    k: int = 64,
    speed_edges: Sequence[float] = DEFAULT_SPEED_EDGES,
    heading_weight: float = 10.0,
    seed: int = 0,
    iters: int = 50,
    interval_length: float = 0.5,
    progress: bool = False,
) -> Vocabulary:
    """Cluster logged futures into a vocabulary.

    Args:
        futures: ``[N, T, 3]`` logged future poses (x, y, heading), current rear-axle frame.
        speeds: ``[N]`` current speed (m/s).
        commands: ``[N]`` command indices (:data:`COMMANDS`).
        k: trajectories per cell.
        speed_edges: inner speed-bin edges (m/s), increasing.
        heading_weight: metres per radian of heading in the clustering distance.
        seed: k-means seed (the result is deterministic).

    Raises:
        ValueError: fewer than ``k`` futures, or inconsistent shapes.
    """

    fut = np.asarray(futures, dtype=np.float64)
    spd = np.asarray(speeds, dtype=np.float64).reshape(-1)
    cmd = np.asarray(commands, dtype=np.int64).reshape(-1)
    if fut.ndim != 3 or fut.shape[-1] != 3 or not (len(fut) == len(spd) == len(cmd)):
        raise ValueError(
            f"build_vocabulary: futures [N, T, 3], speeds [N], commands [N]; got {fut.shape}, {spd.shape}, {cmd.shape}"
        )
    if len(fut) < k:
        raise ValueError(f"k: {k} trajectories per cell, but the data has only {len(fut)} logged futures; "
                         f"expected k <= {len(fut)} (e.g. k={len(fut)}), or more scenes")
    if cmd.min(initial=0) < 0 or cmd.max(initial=0) > 3:
        raise ValueError("build_vocabulary: command indices must be in 0..3")
    edges = np.asarray(speed_edges, dtype=np.float64)
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"build_vocabulary: speed_edges must increase, got {list(edges)}")
    bins = np.searchsorted(edges, spd, side="right")
    n_bins = len(edges) + 1
    scale = np.array([1.0, 1.0, heading_weight])
    flat = (fut * scale).reshape(len(fut), -1)
    out = np.zeros((len(COMMANDS), n_bins, k, fut.shape[1], 3))
    counts = np.zeros((len(COMMANDS), n_bins), dtype=np.int64)
    cells = [(c, s) for c in range(len(COMMANDS)) for s in range(n_bins)]
    for c, s in tqdm(cells, desc="vocabulary cells", disable=not progress):
        counts[c, s] = int(((cmd == c) & (bins == s)).sum())
        pool = _cell_pool(cmd, bins, c, s, k)
        centres = kmeans(flat[pool], k, seed=seed + 97 * c + s, iters=iters)
        traj = centres.reshape(k, -1, 3) / scale
        order = np.lexsort((traj[:, -1, 1], traj[:, -1, 0]))  # stable layout: by final x then y
        out[c, s] = traj[order]
    return Vocabulary(
        torch.from_numpy(out).float(), torch.from_numpy(edges).float(), torch.from_numpy(counts),
        interval_length, {"num_samples": len(fut), "k": k, "heading_weight": heading_weight, "seed": seed},
    )  # fmt: skip


def samples_from_scenes(
    scenes: Iterable[Scene], num_poses: int = 8, progress: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Logged futures ``[N, T, 3]``, current speeds ``[N]`` and command indices ``[N]`` of scenes
    (scenes with fewer than ``num_poses`` future frames are skipped)."""

    fut, spd, cmd = [], [], []
    for scene in tqdm(scenes, desc="logged futures", disable=not progress):
        if scene.scene_metadata.num_future_frames < num_poses:
            continue
        cur = scene.frames[scene.current_index].ego_status
        fut.append(scene.get_future_trajectory(num_poses).astype(np.float64))
        spd.append(float(np.linalg.norm(np.asarray(cur.ego_velocity, dtype=np.float64))))
        cmd.append(command_index(cur.driving_command))
    if not fut:
        raise ValueError(f"samples_from_scenes: no scene with {num_poses} future frames")
    return np.stack(fut), np.asarray(spd), np.asarray(cmd, dtype=np.int64)


CandidateScorer = Callable[[Candidates, AgentInput], Candidates]


class VocabularyPlanner:
    """Proposes the vocabulary cell of the current command and speed (``K`` candidates, no weights).

    Args:
        vocabulary: a :class:`Vocabulary` or the path of a vocabulary file.
        scorer: optional honest scorer ``(candidates, agent_input) -> candidates with logits`` (e.g.
            :class:`planners.scoring.RuleBasedScorer`); privileged scorers (the PDM oracle) need the
            scene's metric cache and are applied outside the planner.
    """

    name = "vocabulary"

    def __init__(self, vocabulary: Vocabulary | str | Path, scorer: CandidateScorer | None = None) -> None:
        self.vocabulary = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary.load(vocabulary)
        self.scorer = scorer

    def propose(self, agent_input: AgentInput) -> Candidates:
        if not agent_input.ego_statuses:
            raise ValueError("VocabularyPlanner: the agent input has no ego status")
        status = agent_input.ego_statuses[-1]
        speed = float(np.linalg.norm(np.asarray(status.ego_velocity, dtype=np.float64)))
        command = command_index(status.driving_command)
        cands = Candidates(
            poses=self.vocabulary.lookup(command, speed).clone(),
            extras={"command": COMMANDS[command], "speed_bin": self.vocabulary.speed_bin(speed)},
        )
        return self.scorer(cands, agent_input) if self.scorer is not None else cands

    def sensor_needs(self, num_history_frames: int) -> SensorNeeds | None:
        """Only what its scorer reads (the cell itself needs the ego status alone)."""
        return {} if self.scorer is None else sensor_needs(self.scorer, num_history_frames)


def _load_scenes(cfg) -> Iterable[Scene]:
    """Scenes of a split through the data room's one loader builder (metadata only, no sensors)."""

    scene_filter = {
        "num_history_frames": int(cfg.num_history_frames),
        "num_future_frames": int(cfg.num_poses),
        "frame_interval": int(cfg.frame_interval),
        "has_route": bool(cfg.has_route),
        "max_scenes": None if cfg.max_scenes is None else int(cfg.max_scenes),
    }
    data = {**OmegaConf.to_container(cfg.data, resolve=True), "scene_filter": scene_filter}  # type: ignore[dict-item]
    loader = scene_loader_from_config(data, sensors="none")
    return (loader.get_scene_from_token(t) for t in loader.tokens)


def build_vocab_from_config(cfg: Any) -> Vocabulary:
    """Cluster and save the vocabulary of a composed ``configs/build_vocab.yaml`` (``inspatio-drive build-vocab``).

    Raises:
        ValueError: ``output`` not set, no ``data.data_root`` for a split other than the bundled ``sample``, or ``k``
            larger than the number of logged futures (the message says how many there are).
    """

    if cfg.output is None:
        raise ValueError("output: not set; expected output=<vocabulary file, .safetensors>")
    if cfg.data.data_root is None and str(cfg.data.split) != SAMPLE_SPLIT:
        raise ValueError(f"data.data_root: not set for split {str(cfg.data.split)!r}; expected "
                         f"data.data_root=<OpenScene root> (or $OPENSCENE_DATA_ROOT), or data.split={SAMPLE_SPLIT} "
                         "for the bundled sample")
    futures, speeds, commands = samples_from_scenes(_load_scenes(cfg), int(cfg.num_poses), progress=True)
    vocab = build_vocabulary(
        futures, speeds, commands, k=int(cfg.k), speed_edges=list(cfg.speed_edges),
        heading_weight=float(cfg.heading_weight), seed=int(cfg.seed), iters=int(cfg.iters), progress=True,
    )  # fmt: skip
    vocab.meta.update({"split": str(cfg.data.split), "config": OmegaConf.to_container(cfg)})
    path = vocab.save(cfg.output)
    print(
        f"build-vocab: {len(futures)} logged futures -> {tuple(vocab.trajectories.shape)} written to {path}"
    )
    print(
        "samples per (command, speed bin):\n"
        + "\n".join(f"  {c:>8}: {vocab.counts[i].tolist()}" for i, c in enumerate(COMMANDS))
    )
    return vocab
