from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.data.pcd import PCDError, parse_pcd, read_pcd, write_pcd

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


@pytest.mark.parametrize("binary", [True, False])
def test_pcd_round_trip(tmp_path, binary):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(6, 50)).astype(np.float32)
    pts[4] = rng.integers(0, 64, 50)
    path = write_pcd(tmp_path / "a" / "x.pcd", pts, binary=binary)
    out = read_pcd(path)
    assert out.dtype == np.float32 and out.shape == (6, 50)
    np.testing.assert_array_equal(out, pts)


def test_pcd_field_order_and_types_follow_header(tmp_path):
    # fields stored in another order with mixed types: rows come back in x y z intensity ring lidar_info order
    n = 3
    rec = np.zeros(n, dtype=[("lidar_info", "<u1"), ("x", "<f8"), ("ring", "<u2"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")])
    rec["x"], rec["y"], rec["z"] = [1, 2, 3], [4, 5, 6], [7, 8, 9]
    rec["intensity"], rec["ring"], rec["lidar_info"] = [0.5, 0.25, 1], [10, 11, 12], [1, 2, 3]
    header = (
        "VERSION 0.7\nFIELDS lidar_info x ring y z intensity\nSIZE 1 8 2 4 4 4\nTYPE U F U F F F\n"
        f"COUNT 1 1 1 1 1 1\nWIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n"
    ).encode()
    out = parse_pcd(header + rec.tobytes() + b"\x00" * 7)  # trailing padding tolerated, like nuplan
    np.testing.assert_array_equal(out, [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0.5, 0.25, 1], [10, 11, 12], [1, 2, 3]])


def test_pcd_errors(tmp_path):
    pts = np.zeros((6, 4), np.float32)
    data = write_pcd(tmp_path / "x.pcd", pts).read_bytes()
    with pytest.raises(PCDError, match="truncated"):
        parse_pcd(data[:-5], "f.pcd")
    with pytest.raises(PCDError, match="lacks field"):
        parse_pcd(data.replace(b"lidar_info", b"other_info"), "f.pcd")
    with pytest.raises(PCDError, match="DATA"):
        parse_pcd(b"\xff\xfe garbage", "f.pcd")
    with pytest.raises(PCDError, match="unsupported PCD DATA"):
        parse_pcd(data.replace(b"DATA binary", b"DATA binary_compressed"), "f.pcd")
    with pytest.raises(ValueError, match=r"\[6, N\]"):
        write_pcd(tmp_path / "y.pcd", np.zeros((3, 4)))


def test_golden_pcd_reads():
    files = sorted((GOLDEN / "sensor_blobs").rglob("*.pcd"))
    assert files
    pts = read_pcd(files[0])
    assert pts.shape == (6, 8) and pts.dtype == np.float32 and np.isfinite(pts).all()
