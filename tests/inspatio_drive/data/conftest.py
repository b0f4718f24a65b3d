from pathlib import Path

import pytest

from inspatio_drive.data.synthetic import write_synthetic_split

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


@pytest.fixture(scope="session")
def synthetic_split(tmp_path_factory):
    """Two logs of 28 frames with tiny sensors; frame i has a route iff i % 2 == 0."""
    return write_synthetic_split(tmp_path_factory.mktemp("split"), num_logs=2, frames_per_log=28, route_every=2, lidar_points=16)
