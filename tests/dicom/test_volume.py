"""Volume geometry: voxel <-> patient (LPS mm) against hand-written DICOM formulas."""
import numpy as np
import pytest

from radseg.dicom import Volume


def _oblique_iop():
    # A real oblique MR orientation (dcmqi ADC series), re-orthonormalised.
    x = np.array([0.999981, 0.00479144, 0.0038759])
    y = np.array([-0.00540165, 0.984755, 0.173861])
    y -= x * (x @ y)
    return x / np.linalg.norm(x), y / np.linalg.norm(y)


def _dicom_position(ipp, x, y, ps, r, c):
    """DICOM PS3.3 C.7.6.2.1.1: P = IPP + X * col_spacing * c + Y * row_spacing * r (X = IOP[0:3], Y = IOP[3:6])."""
    return ipp + x * ps[1] * c + y * ps[0] * r


def test_voxel_to_patient_matches_the_dicom_formula_on_an_oblique_grid():
    x, y = _oblique_iop()
    n = np.cross(x, y)
    ipp0, ps, step = np.array([-90.1, -114.2, -11.5]), (0.7031, 0.65), 3.0
    vol = Volume(np.zeros((5, 7, 9), np.int16), spacing=(step, ps[0], ps[1]), origin=ipp0,
                 direction=np.stack([n, y, x], axis=1))
    rng = np.random.default_rng(1)
    idx = rng.uniform(-1, 8, size=(50, 3))
    want = np.array([_dicom_position(ipp0 + n * step * s, x, y, ps, r, c) for s, r, c in idx])
    np.testing.assert_allclose(vol.voxel_to_patient(idx), want, atol=1e-9)
    np.testing.assert_allclose(vol.patient_to_voxel(want), idx, atol=1e-9)
    assert vol.voxel_to_patient([0, 0, 0]).shape == (3,)
    assert vol.is_regular and vol.tilt_deg < 1e-6


def test_sagittal_axes_and_spacing_order():
    # Sagittal: rows run towards the feet (-z), columns towards posterior (+y); the normal X x Y is -x (patient
    # right), so slices step towards the right.
    x, y = np.array([0.0, 1, 0]), np.array([0.0, 0, -1])
    vol = Volume(np.zeros((3, 4, 5)), spacing=(4.0, 2.0, 1.0), origin=(10, 20, 30), direction=np.stack([np.cross(x, y), y, x], 1))
    np.testing.assert_allclose(vol.voxel_to_patient([1, 2, 3]), [10 - 4, 20 + 3 * 1.0, 30 - 2 * 2.0])


def test_gantry_tilt_is_a_sheared_but_exact_grid():
    x, y = np.array([1.0, 0, 0]), np.array([0, np.cos(0.2), -np.sin(0.2)])
    step_dir = np.array([0, 0, 1.0])  # the table moves along z while the image plane is tilted
    vol = Volume(np.zeros((4, 6, 6)), spacing=(5.0, 0.5, 0.5), origin=(0, 0, 0), direction=np.stack([step_dir, y, x], 1))
    assert vol.tilt_deg == pytest.approx(np.degrees(0.2), abs=1e-9)
    pts = vol.voxel_to_patient([[2, 3, 1], [0.5, 1, 1]])
    np.testing.assert_allclose(pts[0], 2 * 5.0 * step_dir + 3 * 0.5 * y + 1 * 0.5 * x)
    np.testing.assert_allclose(vol.patient_to_voxel(pts), [[2, 3, 1], [0.5, 1, 1]], atol=1e-9)


def test_uneven_slices_map_through_true_positions():
    n = np.array([0, 0, 1.0])
    positions = np.array([[0, 0, z] for z in (0.0, 2.0, 4.0, 10.0)])  # a 6 mm gap after slice 2
    vol = Volume(np.zeros((4, 3, 3)), spacing=(2.0, 1, 1), origin=positions[0], direction=np.eye(3)[:, [2, 1, 0]],
                 slice_positions=positions)
    assert not vol.is_regular
    np.testing.assert_allclose(vol.voxel_to_patient([[3, 1, 2], [2.5, 0, 0], [4, 0, 0]])[:, 2], [10, 7, 16])
    np.testing.assert_allclose(vol.patient_to_voxel([[2, 1, 10], [0, 0, 7], [0, 0, -2]]),
                               [[3, 1, 2], [2.5, 0, 0], [-1, 0, 0]], atol=1e-12)
    assert n @ vol.direction[:, 0] == 1


@pytest.mark.parametrize("kwargs,match", [
    (dict(array=np.zeros((3, 3))), "3D"),
    (dict(spacing=(1, 0, 1)), "spacing"),
    (dict(direction=np.eye(3) * 2), "unit columns"),
    (dict(direction=np.array([[1.0, 1, 0], [0, 0, 1], [0, 0, 0]])), "singular"),
    (dict(sop_instance_uids=("a",)), "one entry per slice"),
])
def test_constructor_rejects_bad_geometry(kwargs, match):
    base = dict(array=np.zeros((2, 3, 3)), spacing=(1, 1, 1), origin=(0, 0, 0), direction=np.eye(3))
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Volume(**base)


def test_points_must_have_three_coordinates():
    vol = Volume(np.zeros((2, 2, 2)), (1, 1, 1), (0, 0, 0), np.eye(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        vol.voxel_to_patient([1, 2])
    with pytest.raises(ValueError, match="same grid|shape"):
        vol.with_array(np.zeros((3, 2, 2)))
