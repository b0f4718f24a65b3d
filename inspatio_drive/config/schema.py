"""Structured-config schemas of the ``inspatio-drive`` sub-commands: one dataclass per command config
(``configs/<name>.yaml``), with nested dataclasses for its own sections.

Each command yaml starts its defaults list with ``<name>_schema`` (registered in hydra's ConfigStore by
:func:`register`), so hydra checks every key and type of the yaml and of every override at compose time. The
yaml files stay the documented source of the defaults (``--help`` prints them); the field defaults here are the
same values (``tests/inspatio_drive/commands/test_config_schema.py`` checks that they agree). ``MISSING`` (``???``) marks a
value the user must give. The config groups of the other rooms (``data``, ``planner``, ``scorer``, ``worker``,
``generator``) are typed ``Any`` here: their own files describe them.

This module is in the bottom layer (``inspatio_drive.config``): it imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# --------------------------------------------------------------------------------------------------- evaluate


@dataclass
class EvalSection:
    output_dir: str = "runs/evaluate"
    variants: list[str] = field(default_factory=lambda: ["base", "fc", "fc_only", "oracle"])
    sensors: str = "all"
    privileged: bool = False
    metric_cache_dir: str | None = None
    dump_dir: str | None = None
    max_scenes: int | None = None
    artefacts: int = 2
    report: bool = True
    progress: bool = True
    on_config_change: str = "error"
    fail_on_invalid: bool = True
    two_stage: str = "auto"


@dataclass
class EPDMSSection:
    """``epdms`` knobs of every command that takes ``metric=epdms`` (``human_filter``: v2.2 | pre_151 | off)."""

    human_filter: str = "v2.2"


@dataclass
class EvaluateConfig:
    """``inspatio-drive evaluate`` / ``demo`` (configs/evaluate.yaml)."""

    data: Any = None
    planner: Any = None
    worker: Any = None
    scorer: Any = None
    metric: str = "pdms"
    traffic: str = "log_replay"
    epdms: EPDMSSection = field(default_factory=EPDMSSection)
    eval: EvalSection = field(default_factory=EvalSection)


# ------------------------------------------------------------------------------------------------------ report


@dataclass
class ReportConfig:
    """``inspatio-drive report`` (configs/report.yaml)."""

    run_dir: str = MISSING
    out_dir: str = "${run_dir}/report"
    artefacts_dir: str = "${run_dir}/artefacts"
    title: str = "inspatio-drive evaluation"
    reference_variant: str = "base"


# --------------------------------------------------------------------------------------------------- pdm-score


# twin of inspatio_drive.pdm.scorer.PDMScorerConfig's knobs (this layer may not import it), held equal in
# tests/inspatio_drive/config/test_schema_library_parity.py
@dataclass
class PDMScoreScorerSection:
    progress_weight: float = 5.0
    ttc_weight: float = 5.0
    comfortable_weight: float = 2.0
    driving_direction_weight: float = 0.0
    progress_distance_threshold: float = 5.0
    stopped_speed_threshold: float = 0.005
    pose_interval_s: float = 0.5
    simulation_backend: str = "auto"


@dataclass
class PDMScoreConfig:
    """``inspatio-drive pdm-score`` (configs/pdm_score.yaml)."""

    candidates: str = MISSING
    candidates_interval_s: float | None = None
    candidates_resample: bool = False
    metric_cache: str | None = None
    data: Any = None
    output: str | None = "pdm_scores.json"
    backend: str = "inspatio"
    metric: str = "pdms"
    traffic: str = "log_replay"
    previous_candidates: str | None = None
    previous_token: str | None = None
    scorer: PDMScoreScorerSection = field(default_factory=PDMScoreScorerSection)
    epdms: EPDMSSection = field(default_factory=EPDMSSection)


# ------------------------------------------------------------------------------------------------ metric-cache


# twin of inspatio_drive.pdm.cache.config.IDMConfig's knobs (this layer may not import it), held equal in
# tests/inspatio_drive/config/test_schema_library_parity.py
@dataclass
class IDMSection:
    speed_limit_fractions: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8, 1.0])
    fallback_target_velocity: float = 15.0
    min_gap_to_lead_agent: float = 1.0
    headway_time: float = 1.5
    accel_max: float = 1.5
    decel_max: float = 3.0
    acceleration_exponent: float = 10.0


# twin of inspatio_drive.pdm.cache.config.MetricCacheConfig's knobs (this layer may not import it), held equal in
# tests/inspatio_drive/config/test_schema_library_parity.py
@dataclass
class MetricCacheBuilderSection:
    lateral_offsets: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    map_radius: float = 100.0
    trajectory_steps: int = 50
    proposal_steps: int = 40
    step_s: float = 0.1
    observation_horizon_s: float = 5.0
    annotation_interval_s: float = 0.5
    leading_agent_update_rate: int = 2
    forecast_sample_res: int = 2
    route_search_depth_backward: int = 15
    route_search_depth_forward: int = 30
    centerline_search_depth: int = 30
    backend: str = "auto"
    idm: IDMSection = field(default_factory=IDMSection)


@dataclass
class BEVSection:
    out_dir: str | None = None
    max_scenes: int = 0


@dataclass
class MetricCacheCommandConfig:
    """``inspatio-drive metric-cache`` (configs/metric_cache.yaml)."""

    data: Any = None
    map_version: str | None = None
    cache_path: str = "${oc.env:NAVSIM_EXP_ROOT,outputs}/metric_cache"
    force: bool = False
    fail_fast: bool = False
    progress: bool = True
    workers: int = 1
    metric: str = "pdms"
    builder: MetricCacheBuilderSection = field(default_factory=MetricCacheBuilderSection)
    bev: BEVSection = field(default_factory=BEVSection)


# ----------------------------------------------------------------------------------------------------- sandbox


@dataclass
class SandboxImageSection:
    width: int = 480
    height: int = 270


@dataclass
class SandboxLidarSection:
    channels: int = 32
    azimuths: int = 720
    elevation: list[float] = field(default_factory=lambda: [-25.0, 10.0])
    origin: list[float] = field(default_factory=lambda: [1.0, 0.0, 1.9])
    max_range: float = 80.0


@dataclass
class SandboxConfig:
    """``inspatio-drive sandbox`` (configs/sandbox.yaml)."""

    root: str = "sandbox_data"
    split: str = "sandbox"
    n: int = 8
    scenarios: Any = None  # a list of catalogue names, one name, or null (all)
    seed: int = 0
    num_frames: int = 14
    density: float = 1.0
    jpeg_quality: int = 90
    progress: bool = True
    image: SandboxImageSection = field(default_factory=SandboxImageSection)
    lidar: SandboxLidarSection = field(default_factory=SandboxLidarSection)
    texture_res: float = 0.1
    shadows: bool = True
    workers: int = 0


# ------------------------------------------------------------------------------------------- monocular depth


@dataclass
class MonoDepthSection:
    """The ``mono`` node read by ``inspatio_drive.render.mono_depth.depth_from_config`` with the ``depth`` knob
    (``lidar | depth_anything | da3 | oracle | lidar+mono``) of render, render-fidelity, the FC scorer and the
    closed loop."""

    backend: str = "depth_anything"  # the monocular backend of depth=lidar+mono: depth_anything | da3 | oracle
    model_dir: str | None = None
    invariance: str = "auto"
    device: str = "cpu"
    stride: int = 4
    frames: int = 1
    camera_height: float | None = None
    max_depth: float = 80.0
    scale_from: str = "auto"
    noise_absrel: float = 0.0
    noise_scale: float = 0.0
    noise_seed: int = 0
    ply_dir: str | None = None


# ------------------------------------------------------------------------------------------------------ render


@dataclass
class RenderDataSection:
    data_root: str | None = "${oc.env:OPENSCENE_DATA_ROOT,null}"
    split: str | None = None
    sensor_split: str | None = None
    scene_token: str | None = None
    sensor_config: Any = "all"
    sandbox_dir: str | None = None
    t_now: float = 1.5
    synthetic_step: float = 0.1
    history_image_size: list[int] = field(default_factory=lambda: [480, 270])


@dataclass
class RenderPointCloudSection:
    sweeps: int = 4
    voxel_size: float = 0.1
    visibility_width: int = 480
    exposure_match: bool = False


@dataclass
class RenderRenderSection:
    splat: int = 2
    hole_fill: int = 2


@dataclass
class RenderVideoSection:
    crf: int = 18
    mask_crf: int = 0


@dataclass
class RenderGridSection:
    enabled: bool = True
    max_candidates: int = 8
    image_size: list[int] = field(default_factory=lambda: [240, 135])


@dataclass
class RenderPathSection:
    """InSpatio trajectory file laid over the candidate (:class:`~inspatio_drive.geometry.camera_path.CameraPathOptions`)."""

    trajectory_file: str | None = None
    relative_to_source: bool = True
    rotation_only: bool = False
    spline: str = "smoothing"
    adaptive_frames: bool = False
    freeze_repeat: int = 0
    freeze_frame: int | None = None


@dataclass
class RenderCaptionSection:
    """Florence-2 caption of the source image into condition.json (InSpatio's step 1, ``new.json`` ``text``)."""

    path: str | None = None
    task: str = "MORE_DETAILED_CAPTION"
    max_new_tokens: int = 1024
    device: str = "cpu"


@dataclass
class RenderConfig:
    """``inspatio-drive render`` (configs/render.yaml)."""

    source: str = "synthetic"
    data: RenderDataSection = field(default_factory=RenderDataSection)
    candidates: str | None = None
    candidates_interval_s: float | None = None
    candidates_resample: bool = False
    candidate: int = 0
    camera: str = "CAM_F0"
    image_size: list[int] = field(default_factory=lambda: [832, 480])
    intrinsics_resize: str = "auto"
    fps: int = 24
    path: RenderPathSection = field(default_factory=RenderPathSection)
    point_cloud: RenderPointCloudSection = field(default_factory=RenderPointCloudSection)
    depth: str = "lidar"
    mono: MonoDepthSection = field(default_factory=MonoDepthSection)
    render: RenderRenderSection = field(default_factory=RenderRenderSection)
    dynamic_mode: str = "static"
    video: RenderVideoSection = field(default_factory=RenderVideoSection)
    grid: RenderGridSection = field(default_factory=RenderGridSection)
    caption: RenderCaptionSection = field(default_factory=RenderCaptionSection)
    output_dir: str = "render_out"


# --------------------------------------------------------------------------------------------- render-fidelity


@dataclass
class FidelityLidarSection:
    channels: int = 32
    azimuths: int = 1024


@dataclass
class FidelityIntrinsicsSection:
    """``intrinsics_study``: render PSNR per intrinsics resize rule (source rig ``factor`` x the target size)."""

    enabled: bool = False
    factor: int = 2
    clouds: list[str] = field(default_factory=lambda: ["oracle_depth", "lidar"])
    cameras: list[str] = field(default_factory=lambda: ["CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"])


@dataclass
class RenderFidelityConfig:
    """``inspatio-drive render-fidelity`` (configs/render_fidelity.yaml)."""

    scenarios: list[str] = field(
        default_factory=lambda: ["lead_vehicle_braking", "cut_in", "curve_with_barrier"]
    )
    seed: int = 3
    density: float = 0.5
    t_now: float = 1.5
    width: int = 480
    height: int = 270
    lidar: FidelityLidarSection = field(default_factory=FidelityLidarSection)
    texture_res: float = 0.1
    perturbations: list[str] = field(
        default_factory=lambda: ["logged", "left_1.5m", "right_1.5m", "slower_30%", "yaw_left_10deg"]
    )
    splat: int = 2
    hole_fill: int = 1
    voxel_size: float = 0.1
    dynamic_mode: str = "privileged"
    depth: str = "lidar"
    mono: MonoDepthSection = field(default_factory=MonoDepthSection)
    drop_lidar: bool = False
    exposure_spread: float = 0.0
    exposure_match: bool = False
    report_times: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])
    intrinsics_study: FidelityIntrinsicsSection = field(default_factory=FidelityIntrinsicsSection)
    output_json: str | None = None


# ------------------------------------------------------------------------------------------------- build-vocab


@dataclass
class BuildVocabConfig:
    """``inspatio-drive build-vocab`` (configs/build_vocab.yaml)."""

    data: Any = None
    output: str | None = None
    k: int = 64
    speed_edges: list[float] = field(default_factory=lambda: [1.0, 4.0, 8.0, 12.0])
    heading_weight: float = 10.0
    num_poses: int = 8
    num_history_frames: int = 4
    frame_interval: int = 1
    has_route: bool = False
    max_scenes: int | None = None
    seed: int = 0
    iters: int = 50


# ---------------------------------------------------------------------------------------------------- train-fc


@dataclass
class TrainFCHeadSection:
    hidden: list[int] = field(default_factory=lambda: [32])
    dropout: float = 0.0
    outputs: list[str] = field(default_factory=lambda: ["NC", "DAC", "DDC", "TTC", "EP", "C"])
    combine: str = "v1"


@dataclass
class TrainFCOptimSection:
    lr: float = 3.0e-3
    weight_decay: float = 1.0e-4
    epochs: int = 200
    batch_size: int = 4096
    patience: int = 20


@dataclass
class TrainFCFusionSection:
    grid: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    target: str = "score"
    keep: list[str] = field(
        default_factory=lambda: [
            "no_at_fault_collisions",
            "drivable_area_compliance",
            "driving_direction_compliance",
            "time_to_collision_within_bound",
            "ego_progress",
            "comfort",
        ]
    )
    tolerance: float = 0.0
    z: float = 0.0


@dataclass
class TrainFCConfig:
    """``inspatio-drive train-fc`` (configs/train_fc.yaml: knobs in configs/scorer/train_fc.yaml)."""

    dataset: str = MISSING
    output_dir: str = "outputs/fc_head"
    features: list[str] | None = None
    allow_privileged: bool = False
    train_split: str = "train"
    val_split: str = "val"
    seed: int = 0
    trainer: str = "planners"
    head: TrainFCHeadSection = field(default_factory=TrainFCHeadSection)
    optim: TrainFCOptimSection = field(default_factory=TrainFCOptimSection)
    fusion: TrainFCFusionSection = field(default_factory=TrainFCFusionSection)
    progress: bool = True
    plot: bool = True


# ------------------------------------------------------------------------------------------------ train-scorer


@dataclass
class TrainScorerModelSection:
    dim: int = 64
    layers: int = 2
    heads: int = 4
    horizon: int = 8
    bev_channels: int = 2
    bev_cells: int = 32
    patch: int = 4
    rule_dim: int = 7
    outputs: list[str] | None = None


@dataclass
class TrainScorerOptimSection:
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    warmup_fraction: float = 0.1
    patience: int | None = 8


@dataclass
class TrainScorerConfig:
    """``inspatio-drive train-scorer`` (configs/train_scorer.yaml)."""

    dataset: str = MISSING
    output_dir: str = "outputs/scorer"
    fc: str = "none"
    fc_features: list[str] | None = None
    fc_head: str | None = None
    targets: str | None = None
    selection: str | None = None
    allow_privileged: bool = False
    train_split: str = "train"
    val_split: str = "val"
    seed: int = 0
    resume: bool = False
    threads: int | None = None
    model: TrainScorerModelSection = field(default_factory=TrainScorerModelSection)
    optim: TrainScorerOptimSection = field(default_factory=TrainScorerOptimSection)
    progress: bool = True
    plot: bool = True


# --------------------------------------------------------------------------------------------- train-drivor-fc


@dataclass
class TrainDrivoRFCConfig:
    """``inspatio-drive train-drivor-fc`` (configs/train_drivor_fc.yaml; optimiser knobs as train-scorer's)."""

    data: Any = None
    planner: Any = None
    scorer: Any = None
    output_dir: str = "outputs/drivor_fc"
    train_split: str = "train"
    val_split: str = "val"
    fc: str = "features"
    fc_features: list[str] | None = None
    hidden: int = 128
    cache: bool = True
    seed: int = 0
    resume: bool = False
    threads: int | None = None
    optim: TrainScorerOptimSection = field(default_factory=lambda: TrainScorerOptimSection(epochs=40, batch_size=16))
    progress: bool = True
    plot: bool = True


# ---------------------------------------------------------------------------------------------------- fc-table


@dataclass
class FCTableConfig:
    """``inspatio-drive fc-table`` (configs/fc_table.yaml: knobs in configs/scorer/study.yaml)."""

    inputs: str = MISSING
    output_dir: str = "outputs/fc_study"
    n_boot: int = 2000
    ci: float = 0.95
    seed: int = 0


# ------------------------------------------------------------------------------------------------------- study


@dataclass
class StudySandboxImageSection:
    width: int = 320
    height: int = 180


@dataclass
class StudySandboxSection:
    num_frames: int = 14
    sensor_frames: int | None = 4
    camera_frames: int | None = 1
    density: float = 1.0
    jpeg_quality: int = 85
    image: StudySandboxImageSection = field(default_factory=StudySandboxImageSection)
    lidar: SandboxLidarSection = field(default_factory=SandboxLidarSection)
    texture_res: float = 0.1
    shadows: bool = True
    workers: int = 0


@dataclass
class StudyTrainSplit:
    n: int = 60
    seed: int = 100000


@dataclass
class StudyValSplit:
    n: int = 60
    seed: int = 200000


@dataclass
class StudyVocabSplit:
    n: int = 24
    seed: int = 150000
    num_frames: int = 40


@dataclass
class StudyTestSplit:
    n: int = 200
    seed: int = 300000
    seed_stride: int = 10000


@dataclass
class StudyVocabularySection:
    k: int = 64
    frame_interval: int = 1
    speed_edges: list[float] = field(default_factory=lambda: [1.0, 4.0, 8.0, 12.0])
    iters: int = 50


@dataclass
class StudyReportSection:
    weight_rules: list[float] = field(default_factory=lambda: [0.0, 1.0, 1.645])
    n_boot: int = 2000
    ci: float = 0.95
    readme: str | None = None
    plot: str | None = None
    assets_dir: str | None = None


@dataclass
class StudyAblationSection:
    fc_modes: list[str] = field(default_factory=lambda: ["features", "features+head"])
    train_scorer_overrides: list[str] = field(default_factory=list)
    n_boot: int = 2000
    heads: str = "heads"


@dataclass
class StudyConfig:
    """``inspatio-drive study`` (configs/study.yaml)."""

    output_dir: str = "runs/study"
    steps: list[str] = field(
        default_factory=lambda: ["sandbox", "vocab", "features", "train", "test", "report", "ablation"]
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    scenarios: list[str] | None = None
    sandbox: StudySandboxSection = field(default_factory=StudySandboxSection)
    train: StudyTrainSplit = field(default_factory=StudyTrainSplit)
    val: StudyValSplit = field(default_factory=StudyValSplit)
    vocab: StudyVocabSplit = field(default_factory=StudyVocabSplit)
    test: StudyTestSplit = field(default_factory=StudyTestSplit)
    vocabulary: StudyVocabularySection = field(default_factory=StudyVocabularySection)
    selection: str = "v1_comfort"
    dump_test: bool = True
    evaluate_overrides: list[str] = field(default_factory=list)
    train_fc_overrides: list[str] = field(default_factory=list)
    report: StudyReportSection = field(default_factory=StudyReportSection)
    ablation: StudyAblationSection = field(default_factory=StudyAblationSection)
    progress: bool = True
    metric: str = "pdms"
    traffic: str = "log_replay"
    epdms: EPDMSSection = field(default_factory=EPDMSSection)


# ------------------------------------------------------------------------------------ closed-loop, counterfactual


@dataclass
class ClosedLoopSection:
    output_dir: str = "runs/closed_loop"
    steps: int = 8
    variants: list[str] = field(default_factory=lambda: ["base", "fc"])
    agents: str = "log_replay"
    observer: str = "geometric"
    cameras: list[str] = field(default_factory=lambda: ["CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"])
    image_size: list[int] = field(default_factory=lambda: [160, 96])
    sweeps: int = 4
    voxel_size: float = 0.1
    depth: str = "lidar"
    mono: MonoDepthSection = field(default_factory=MonoDepthSection)
    exposure_match: bool = False
    splat: int = 2
    hole_fill: int = 1
    dynamic: str = "static"
    real_first: bool = True
    oracle: Any = "auto"  # auto | false
    wm_frames: int = 9
    device: str = "cpu"
    tokens: list[Any] | None = None
    max_scenes: int | None = None
    video: bool = True
    video_scale: int = 2
    evaluate_dir: str | None = None
    progress: bool = True


@dataclass
class ClosedLoopConfig:
    """``inspatio-drive closed-loop`` (configs/closed_loop.yaml)."""

    data: Any = None
    generator: Any = None
    planner: Any = None
    scorer: Any = None
    metric: str = "pdms"
    traffic: str = "log_replay"
    epdms: EPDMSSection = field(default_factory=EPDMSSection)
    closed_loop: ClosedLoopSection = field(default_factory=ClosedLoopSection)


@dataclass
class CounterfactualSection:
    output_dir: str = "runs/counterfactual"
    perturbations: list[Any] = field(
        default_factory=lambda: [
            {"name": "left_1m", "lateral_m": 1.0},
            {"name": "right_1m", "lateral_m": -1.0},
            {"name": "yaw_left_5deg", "heading_deg": 5.0},
            {"name": "slow_0.7", "speed_factor": 0.7},
        ]
    )
    render: bool = True
    cameras: list[str] = field(
        default_factory=lambda: [
            "CAM_F0",
            "CAM_L0",
            "CAM_L1",
            "CAM_L2",
            "CAM_R0",
            "CAM_R1",
            "CAM_R2",
            "CAM_B0",
        ]
    )
    image_size: list[int] = field(default_factory=lambda: [480, 270])
    sweeps: int = 4
    voxel_size: float = 0.1
    splat: int = 2
    hole_fill: int = 1
    wm_frames: int = 9
    frames: str = "all"
    device: str = "cpu"
    tokens: list[Any] | None = None
    max_scenes: int | None = None
    progress: bool = True


@dataclass
class CounterfactualConfig:
    """``inspatio-drive counterfactual`` (configs/counterfactual.yaml)."""

    data: Any = None
    generator: Any = None
    counterfactual: CounterfactualSection = field(default_factory=CounterfactualSection)


@dataclass
class SecondStageSection:
    output_dir: str = "runs/second_stage"
    source: str = "geometric"
    lidar: str = "auto"
    per_scene: int = 5
    lateral_m: float = 1.0
    heading_deg: float = 5.0
    speed: float = 0.2
    ahead_frames: int = 8
    future_frames: int = 8
    seed: int = 0
    render: bool = True
    cameras: list[str] = field(
        default_factory=lambda: ["CAM_F0", "CAM_L0", "CAM_L1", "CAM_L2", "CAM_R0", "CAM_R1", "CAM_R2", "CAM_B0"]
    )
    image_size: list[int] = field(default_factory=lambda: [480, 270])
    sweeps: int = 4
    voxel_size: float = 0.1
    splat: int = 2
    hole_fill: int = 1
    depth: str = "lidar"
    mono: MonoDepthSection = field(default_factory=MonoDepthSection)
    exposure_match: bool = False
    wm_frames: int = 9
    device: str = "cpu"
    tokens: list[str] | None = None
    max_scenes: int | None = None
    progress: bool = True


@dataclass
class SecondStageConfig:
    """``inspatio-drive second-stage`` (configs/second_stage.yaml)."""

    data: Any = None
    generator: Any = None
    second_stage: SecondStageSection = field(default_factory=SecondStageSection)


@dataclass
class SecondStageStudySandboxSection:
    num_frames: int = 21
    density: float = 1.0
    jpeg_quality: int = 85
    image: StudySandboxImageSection = field(default_factory=lambda: StudySandboxImageSection(160, 90))
    lidar: SandboxLidarSection = field(default_factory=lambda: SandboxLidarSection(azimuths=360))
    texture_res: float = 0.2
    shadows: bool = False
    workers: int = 0


@dataclass
class SecondStageStudyConfig:
    """``inspatio-drive second-stage-study`` (configs/second_stage_study.yaml)."""

    output_dir: str = "runs/second_stage_study"
    n: int = 20
    seed: int = 400000
    scenarios: list[str] | None = None
    per_scene: int = 3
    sources: list[str] = field(default_factory=lambda: ["oracle", "geometric", "no_lidar"])
    vocabulary: str | None = None
    planners: dict[str, list[str]] = field(default_factory=lambda: {
        "constant_velocity": ["planner=constant_velocity"],
        "cv_fan_rules": ["planner=constant_velocity", "planner.yaw_rates=[-0.3,-0.15,0.0,0.15,0.3]",
                         "planner.speed_factors=[0.6,1.0]", "planner.scorer=rules", "planner.rules.require_lidar=false"],
        "vocabulary_rules": ["planner=vocabulary", "planner.vocabulary=@vocabulary", "planner.scorer=rules",
                             "planner.rules.require_lidar=false"],
    })
    only: list[str] | None = None
    target_delta: float = 0.02
    second_stage_overrides: list[str] = field(default_factory=list)
    evaluate_overrides: list[str] = field(default_factory=list)
    progress: bool = True
    sandbox: SecondStageStudySandboxSection = field(default_factory=SecondStageStudySandboxSection)


# ----------------------------------------------------------------------------------------------------- figures


@dataclass
class FiguresConfig:
    """``inspatio-drive figures`` (configs/figures.yaml)."""

    out: str = "docs/img"
    which: list[str] = field(default_factory=lambda: ["sandbox", "render", "planners", "scorers"])


# ------------------------------------------------------------------------------------------------- benchmarks


@dataclass
class BenchDataConfig:
    """``inspatio-drive bench-data`` (configs/bench_data.yaml)."""

    num_logs: int = 8
    frames_per_log: int = 200
    frame_interval: int = 1
    cache_logs: int = 2
    scenes_phase: bool = True
    image_logs: int = 1
    image_frames_per_log: int = 40
    image_width: int = 1920
    image_height: int = 1080
    max_image_scenes: int | None = None
    io_workers: int = 1
    seed: int = 0
    workdir: str | None = None
    keep: bool = False
    output: str | None = None


@dataclass
class BenchRenderSceneSection:
    synthetic_step: float = 0.1
    history_image_size: list[int] = field(default_factory=lambda: [480, 270])
    lidar_resolution: list[int] = field(default_factory=lambda: [400, 160])


@dataclass
class BenchRenderConfig:
    """``inspatio-drive bench-render`` (configs/bench_render.yaml)."""

    candidates: int = 64
    poses: int = 8
    cameras: list[str] = field(default_factory=lambda: ["CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"])
    image_size: list[int] = field(default_factory=lambda: [480, 270])
    sweeps: int = 4
    voxel_size: float = 0.1
    splat: int = 2
    hole_fill: int = 0
    outputs: list[str] = field(default_factory=lambda: ["rgb", "depth", "index"])
    dynamic_mode: str = "privileged"
    device: str = "cpu"
    backend: str = "auto"
    threads: int | None = None
    warmup: int = 1
    repeats: int = 3
    single_views: int = 64
    scene: BenchRenderSceneSection = field(default_factory=BenchRenderSceneSection)
    output_json: str | None = None


@dataclass
class BenchPDMConfig:
    """``inspatio-drive bench-pdm`` (configs/bench_pdm.yaml)."""

    scenes: list[str] | None = None
    num_candidates: int = 64
    repeats: int = 7
    warmup: int = 1
    seed: int = 0
    build_cache: bool = True
    output: str | None = None
    metric: str = "pdms"
    traffic: list[str] = field(default_factory=lambda: ["log_replay", "reactive"])


@dataclass
class BenchMetricCacheConfig:
    """``inspatio-drive bench-metric-cache`` (configs/bench_metric_cache.yaml)."""

    data: Any = None
    repeats: int = 5
    backend: str = "auto"


@dataclass
class BenchSandboxConfig:
    """``inspatio-drive bench-sandbox`` (configs/bench_sandbox.yaml)."""

    scenario: str = "plain_cruising"
    seed: int = 0
    frames: int = 3
    sizes: list[list[int]] = field(default_factory=lambda: [[480, 270], [1920, 1080]])
    shadows: bool = True
    workers: int = 0


@dataclass
class BenchCameraOnlyFidelitySection:
    scenarios: list[str] = field(default_factory=lambda: ["lead_vehicle_braking", "cut_in", "curve_with_barrier"])
    seed: int = 3
    density: float = 0.5
    t_now: float = 1.5
    width: int = 160
    height: int = 90
    lidar_channels: int = 32
    lidar_azimuths: int = 1024
    texture_res: float = 0.1
    perturbations: list[str] = field(default_factory=lambda: ["logged", "left_1.5m"])
    splat: int = 2
    hole_fill: int = 1
    voxel_size: float = 0.1
    report_times: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])
    exposure_spread: float = 0.3


@dataclass
class BenchCameraOnlyFCSection:
    data_root: str | None = None
    split: str = "test_s0"
    max_scenes: int = 16
    selection: str = "v1_comfort"
    vocabulary: str | None = None
    head: str | None = None
    w_fc: float = 0.25
    evaluate_overrides: list[str] = field(default_factory=list)


@dataclass
class BenchCameraOnlyConfig:
    """``inspatio-drive bench-camera-only`` (configs/bench_camera_only.yaml)."""

    output_dir: str = "runs/bench_camera_only"
    variants: list[Any] = field(default_factory=lambda: [
        {"name": "lidar", "depth": "lidar"},
        {"name": "mono_perfect", "depth": "oracle", "drop_lidar": True, "mono": {"stride": 1}},
        {"name": "mono_noisy_5pct", "depth": "oracle", "drop_lidar": True,
         "mono": {"stride": 1, "noise_absrel": 0.05, "noise_scale": 0.05}},
        {"name": "mono_noisy_10pct", "depth": "oracle", "drop_lidar": True,
         "mono": {"stride": 1, "noise_absrel": 0.1, "noise_scale": 0.1}},
        {"name": "mono_relative_ground", "depth": "oracle", "drop_lidar": True,
         "mono": {"stride": 1, "invariance": "scale", "scale_from": "ground_plane", "noise_absrel": 0.05,
                  "noise_scale": 0.3}},
    ])
    fidelity: BenchCameraOnlyFidelitySection = field(default_factory=BenchCameraOnlyFidelitySection)
    fc: BenchCameraOnlyFCSection = field(default_factory=BenchCameraOnlyFCSection)
    progress: bool = True


@dataclass
class WMSandboxStudyHeadsSection:
    folds: int = 4
    hidden: list[int] = field(default_factory=lambda: [32])
    lr: float = 0.003
    epochs: int = 200
    seed: int = 0
    w_fc: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0])
    n_boot: int = 2000


@dataclass
class WMSandboxStudyFCSection:
    max_scenes: int | None = 24
    cameras: list[str] = field(default_factory=lambda: ["CAM_F0"])
    image_size: list[int] = field(default_factory=lambda: [160, 90])
    generate_top: int = 4
    generate_size: list[int] = field(default_factory=lambda: [128, 64])
    generate_substeps: int = 1
    render_fill: str = "telea"
    selection: str = "v1_comfort"
    vocabulary: str | None = None
    evaluate_overrides: list[str] = field(default_factory=list)
    heads: WMSandboxStudyHeadsSection = field(default_factory=WMSandboxStudyHeadsSection)


@dataclass
class WMSandboxStudyDriftSection:
    max_scenes: int | None = 12
    steps: int = 8
    cameras: list[str] = field(default_factory=lambda: ["CAM_F0"])
    image_size: list[int] = field(default_factory=lambda: [128, 64])
    wm_frames: int = 9
    closed_loop_overrides: list[str] = field(default_factory=list)


@dataclass
class WMSandboxStudyConfig:
    """``inspatio-drive wm-sandbox-study`` (configs/wm_sandbox_study.yaml)."""

    generator: Any = None
    parts: list[str] = field(default_factory=lambda: ["fc", "drift"])
    data_root: str = "runs/wm_sandbox/data"
    split: str = "wm"
    output_dir: str = "runs/wm_sandbox_study"
    threads: int = 1
    progress: bool = True
    fc: WMSandboxStudyFCSection = field(default_factory=WMSandboxStudyFCSection)
    drift: WMSandboxStudyDriftSection = field(default_factory=WMSandboxStudyDriftSection)


@dataclass
class BenchPlannersConfig:
    """``inspatio-drive bench-planners`` (configs/bench_planners.yaml)."""

    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    repeats: int = 3
    threads: int = 0
    image_size: list[int] = field(default_factory=lambda: [1148, 672])
    lidar_points: int = 120000
    drivor: bool = True


@dataclass
class BenchFCScenes:
    """``bench-fc scenes.*``: real scenes timed besides the synthetic inputs (``data_root: null`` = none)."""

    data_root: str | None = None
    split: str = "sandbox"
    n: int = 3
    vocabulary: str | None = None


@dataclass
class BenchFCConfig:
    """``inspatio-drive bench-fc`` (configs/bench_fc.yaml: knobs in configs/scorer/bench_fc.yaml)."""

    num_candidates: int = 64
    num_poses: int = 8
    num_cameras: int = 4
    height: int = 90
    width: int = 160
    num_points: int = 100000
    generated_candidates: int = 0
    generated_height: int = 240
    generated_width: int = 416
    motion_cameras: list[int] = field(default_factory=lambda: [0])
    repeats: int = 3
    threads: int = 1
    seed: int = 0
    backends: list[str] = field(default_factory=lambda: ["numba", "torch"])
    target_s: float = 0.5
    scenes: BenchFCScenes = field(default_factory=lambda: BenchFCScenes())
    progress: bool = True


@dataclass
class BenchEvaluateConfig:
    """``inspatio-drive bench-evaluate`` (configs/bench_evaluate.yaml)."""

    data: Any = None
    n: int = 500
    workers: list[int] = field(default_factory=lambda: [1, 2])
    fault_test: bool = True
    work_dir: str | None = None
    keep: bool = False
    output: str | None = None


@dataclass
class BenchWorldModelConfig:
    """``inspatio-drive bench-world-model`` (configs/bench_world_model.yaml)."""

    generator: Any = None
    pipeline: str = "dit"
    vae: str = "random"
    height: int = 480
    width: int = 832
    blocks: int = 3
    warmup: int = 1
    repeats: int = 1
    ks: list[int] = field(default_factory=lambda: [1, 4, 8])
    separate: bool = True
    text_tokens: int = 64
    output: str | None = None


# ------------------------------------------------------------------------------------------ train-world-model


@dataclass
class TrainWMDataSection:
    dir: str = MISSING
    split: str = "train"
    val_split: str = "val"
    v2v_ratio: float = 0.75
    num_workers: int = 0


@dataclass
class TrainWMTrainSection:
    steps: int = 1000
    batch_size: int = 4
    lr: float = 1.0e-4
    weight_decay: float = 0.0
    warmup: int = 50
    grad_clip: float = 1.0
    lambda_ctrl: float = 1.0
    sigmas: str = "shifted"
    shift: float = 5.0
    context_grad: bool = True
    context_noise: float = 0.0
    ema_decay: float = 0.999
    bf16: bool = True
    gradient_checkpointing: bool = False
    seed: int = 0
    max_minutes: float | None = None
    cpu_threads: int | None = None


@dataclass
class TrainWMLoRASection:
    enabled: bool = False
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: [
        "self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
        "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"])


@dataclass
class TrainWMDistillSection:
    enabled: bool = False
    teacher: str | None = None
    ode_steps: int = 16


@dataclass
class TrainWMCheckpointSection:
    every: int = 200
    resume: bool = True
    export_dtype: str = "float32"


@dataclass
class TrainWMSandboxSection:
    build: bool = False
    train_seeds: list[int] = field(default_factory=lambda: [0, 24])
    val_seeds: list[int] = field(default_factory=lambda: [1000, 1006])
    scenarios: list[str] | None = None
    width: int = 128
    height: int = 64
    frames: int = 21
    dt: float = 0.2
    t_now: float = 1.5
    trajectories: list[str] = field(default_factory=lambda: ["logged", "left_1.5m", "right_1.5m", "yaw_left_10deg"])
    hole_fill: int = 1


@dataclass
class TrainWMEvalSection:
    enabled: bool = True
    seed: int = 0
    figure_frames: list[int] = field(default_factory=lambda: [4, 12, 20])


@dataclass
class TrainWMDecoderRefinerSection:
    """``decoder_refiner.*``: learned decoder refinement of a block-PCA codec (evaluation/world_model_decoder.py)."""

    enabled: bool = False
    dit: str | None = None
    codec: str | None = None
    channels: int = 32
    blocks: int = 3
    steps: int = 1000
    batch_size: int = 8
    crop: int = 64
    lr: float = 1.0e-3
    ssim_weight: float = 0.5
    recon_ratio: float = 0.25
    holdout: float = 0.15
    holdout_frames: int = 96
    eval_every: int = 100
    max_minutes: float | None = None
    seed: int = 0


@dataclass
class TrainWMBenchSection:
    enabled: bool = False
    batch: int = 1
    height: int = 480
    width: int = 832
    latent_frames: int = 21
    steps: int = 5
    warmup: int = 1


@dataclass
class TrainWorldModelConfig:
    """``inspatio-drive train-world-model`` (configs/train_world_model.yaml)."""

    output_dir: str = "outputs/world_model"
    model: str = "tiny"
    init_checkpoint: str | None = None
    vae: str = "tiny-random"
    device: str = "auto"
    data: TrainWMDataSection = field(default_factory=TrainWMDataSection)
    train: TrainWMTrainSection = field(default_factory=TrainWMTrainSection)
    lora: TrainWMLoRASection = field(default_factory=TrainWMLoRASection)
    distill: TrainWMDistillSection = field(default_factory=TrainWMDistillSection)
    checkpoint: TrainWMCheckpointSection = field(default_factory=TrainWMCheckpointSection)
    sandbox: TrainWMSandboxSection = field(default_factory=TrainWMSandboxSection)
    eval: TrainWMEvalSection = field(default_factory=TrainWMEvalSection)
    decoder_refiner: TrainWMDecoderRefinerSection = field(default_factory=TrainWMDecoderRefinerSection)
    bench: TrainWMBenchSection = field(default_factory=TrainWMBenchSection)
    progress: bool = True
    plot: bool = True


# -------------------------------------------------------------------------------------------------- registry

SCHEMAS: dict[str, type] = {
    "evaluate": EvaluateConfig,
    "report": ReportConfig,
    "pdm_score": PDMScoreConfig,
    "metric_cache": MetricCacheCommandConfig,
    "sandbox": SandboxConfig,
    "render": RenderConfig,
    "render_fidelity": RenderFidelityConfig,
    "build_vocab": BuildVocabConfig,
    "train_fc": TrainFCConfig,
    "train_scorer": TrainScorerConfig,
    "train_drivor_fc": TrainDrivoRFCConfig,
    "fc_table": FCTableConfig,
    "study": StudyConfig,
    "closed_loop": ClosedLoopConfig,
    "counterfactual": CounterfactualConfig,
    "second_stage": SecondStageConfig,
    "second_stage_study": SecondStageStudyConfig,
    "figures": FiguresConfig,
    "bench_data": BenchDataConfig,
    "bench_render": BenchRenderConfig,
    "bench_pdm": BenchPDMConfig,
    "bench_metric_cache": BenchMetricCacheConfig,
    "bench_sandbox": BenchSandboxConfig,
    "bench_camera_only": BenchCameraOnlyConfig,
    "bench_planners": BenchPlannersConfig,
    "bench_fc": BenchFCConfig,
    "bench_evaluate": BenchEvaluateConfig,
    "bench_world_model": BenchWorldModelConfig,
    "train_world_model": TrainWorldModelConfig,
    "wm_sandbox_study": WMSandboxStudyConfig,
}
"""Command config name (``configs/<name>.yaml``) → its schema, stored in the ConfigStore as ``<name>_schema``."""


_DATA_RENAMES = {"data_root": "data.data_root", "split": "data.split", "maps_root": "data.maps_root"}

RENAMED_KEYS: dict[str, dict[str, str]] = {
    "pdm_score": {**_DATA_RENAMES, "token": "data.scene_token"},
    "build_vocab": {"data_root": "data.data_root", "split": "data.split"},
    "metric_cache": {"maps_root": "data.maps_root"},
    "render": {"trajectory": "candidates", "data_root": "data.data_root", "split": "data.split",
               "token": "data.scene_token"},
    "bench_metric_cache": dict(_DATA_RENAMES),
    "bench_evaluate": {"data_root": "data.data_root", "split": "data.split"},
}
"""Command config name → {old key: new key}: keys that were renamed so that every command spells the data root,
split, maps root and scene token the same (the ``data`` node, :class:`inspatio_drive.data.DataConfig`);
:func:`inspatio_drive.config.compose` refuses the old spelling with ``<old>: renamed <new>``."""


def register() -> None:
    """Store every schema in hydra's ConfigStore as ``<config name>_schema`` (idempotent)."""

    cs = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        cs.store(name=f"{name}_schema", node=node)
