import numpy as np
import pytest

from inspatio_drive.data.pcd import write_pcd
from inspatio_drive.data.sensors import SensorError, SensorTimer, load_image, load_lidar
from inspatio_drive.data.writers import write_jpeg


def _image(h=64, w=96):
    y, x = np.mgrid[:h, :w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], -1).astype(np.uint8)


def test_load_image_matches_pillow_and_times(tmp_path):
    from PIL import Image

    path = write_jpeg(tmp_path / "CAM_F0" / "a.jpg", _image(), quality=95)
    timer = SensorTimer()
    img = load_image(path, "tok", timer=timer)
    assert img.dtype == np.uint8 and img.shape == (64, 96, 3) and img.flags.writeable
    np.testing.assert_array_equal(img, np.array(Image.open(path)))
    assert set(timer.seconds) == {"read", "decode", "to_array"}


def test_load_image_draft_is_reduced_but_not_below_request(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", _image(128, 192))
    img = load_image(path, draft_size=(48, 32))
    assert img.shape == (32, 48, 3)
    img = load_image(path, draft_size=(50, 33))
    assert img.shape == (64, 96, 3)


def test_image_errors_name_file_and_frame(tmp_path):
    with pytest.raises(SensorError, match=r"missing.jpg.*frame f00d.*missing"):
        load_image(tmp_path / "missing.jpg", "f00d")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(SensorError, match=r"bad.jpg.*frame f00d"):
        load_image(bad, "f00d")


def test_load_lidar_and_errors(tmp_path):
    pts = np.arange(24, dtype=np.float32).reshape(6, 4)
    path = write_pcd(tmp_path / "x.pcd", pts)
    out = load_lidar(path, "t")
    assert out.dtype == np.float32 and out.shape == (6, 4)
    np.testing.assert_array_equal(out, pts)
    with pytest.raises(SensorError, match=r"nope.pcd.*frame t1.*missing"):
        load_lidar(tmp_path / "nope.pcd", "t1")
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(SensorError, match=r"x.pcd.*frame t2.*truncated"):
        load_lidar(path, "t2")
