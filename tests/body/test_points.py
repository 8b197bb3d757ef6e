"""Body outline points: they are the outline pixels of the mask, placed in patient space through the series'
geometry (checked by mapping them back, on a real CT and on a real oblique MR), and the PLY that holds them reads
back identical with an independent reader (plyfile)."""
import numpy as np
import pytest

import radseg
from radseg.body.points import outline_pixels, outline_points, write_ply
from tests.conftest import shared_data

plyfile = pytest.importorskip("plyfile")
pytest.importorskip("pydicom")
ndimage = pytest.importorskip("scipy.ndimage")


def _reference_outline(mask):
    """Outline by an independent definition: the mask minus its 4-connected in-plane erosion, where outside the
    image counts as background."""
    cross = np.zeros((3, 3, 3), bool)
    cross[1] = ndimage.generate_binary_structure(2, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=cross, border_value=0)


def _read_ply(path):
    ply = plyfile.PlyData.read(str(path))
    vertex = ply["vertex"]
    assert [p.name for p in vertex.properties] == ["x", "y", "z"]
    assert all(p.val_dtype in ("f4", "float32") for p in vertex.properties)
    return ply, np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)


@pytest.mark.parametrize("parts", [("dcmqi", "data", "segmentations", "ct-3slice"), ("dcmqi_adc_mr", "701-ADCb500")])
def test_points_lie_on_the_mask_outline_in_patient_space(parts):
    vol = radseg.dicom.read_series(shared_data(*parts))
    a = vol.array.astype(np.float32)
    mask = a > np.percentile(a, 40)
    mask[:, :, :3] = True  # touching the image edge: outlined along it
    points = outline_points(vol, mask)
    assert points.dtype == np.float64 and points.shape[1] == 3
    voxels = vol.patient_to_voxel(points)  # back through the inverse geometry
    index = np.round(voxels).astype(int)
    assert np.abs(voxels - index).max() < 1e-6  # each point is a pixel centre
    expected = _reference_outline(mask)
    assert expected[tuple(index.T)].all()  # ... of an outline pixel
    assert len(np.unique(index, axis=0)) == len(points) == expected.sum()  # every outline pixel, once
    if parts[0] == "dcmqi_adc_mr":  # oblique: z varies within a slice, so the geometry was really applied
        on_slice = points[index[:, 0] == 0]
        assert np.ptp(on_slice[:, 2]) > 1.0
        assert np.ptp(on_slice @ vol.slice_normal) < 1e-6  # and every point lies in its image plane


def test_ply_reads_back_identical(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(scale=300, size=(1000, 3))
    path = write_ply(tmp_path / "body.ply", points, comment="patient 7\nseries 3")
    assert path == tmp_path / "body.ply"
    ply, back = _read_ply(path)
    np.testing.assert_array_equal(back, points.astype(np.float32))
    assert ply.text is False and ply.byte_order == "<"
    assert any("LPS" in c for c in ply.comments) and "patient 7" in ply.comments and "series 3" in ply.comments
    assert [p.name for p in tmp_path.iterdir()] == ["body.ply"]  # no temporary file left


def test_empty_mask_gives_no_points_and_a_valid_ply(tmp_path):
    vol = radseg.dicom.Volume(np.zeros((3, 8, 9), np.int16), (2.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
    points = outline_points(vol, np.zeros(vol.shape, bool))
    assert points.shape == (0, 3) and points.dtype == np.float64
    _, back = _read_ply(write_ply(tmp_path / "empty.ply", points))
    assert back.shape == (0, 3)


def test_outline_pixels_of_small_shapes():
    mask = np.zeros((1, 6, 6), bool)
    mask[0, 1:5, 1:5] = True
    expected = mask.copy()
    expected[0, 2:4, 2:4] = False
    np.testing.assert_array_equal(outline_pixels(mask), expected)
    assert outline_pixels(np.ones((4, 4), bool)).sum() == 12  # the image edge is background
    single = np.zeros((3, 3), bool)
    single[1, 1] = True
    np.testing.assert_array_equal(outline_pixels(single), single)


def test_bad_input_says_what_is_wrong(tmp_path):
    vol = radseg.dicom.Volume(np.zeros((3, 8, 9), np.int16), (2.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
    with pytest.raises(ValueError, match=r"shape \(3, 8, 8\), the volume is \(3, 8, 9\)"):
        outline_points(vol, np.zeros((3, 8, 8), bool))
    with pytest.raises(ValueError, match="bool"):
        outline_points(vol, np.zeros(vol.shape, np.float32))
    with pytest.raises(TypeError, match="Volume"):
        outline_points(np.zeros((3, 8, 9)), np.zeros((3, 8, 9), bool))
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        write_ply(tmp_path / "x.ply", np.zeros((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        write_ply(tmp_path / "x.ply", np.full((4, 3), np.nan))
    assert not list(tmp_path.iterdir())
