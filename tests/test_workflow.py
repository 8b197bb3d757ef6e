"""radseg.workflow: prompts, segment_volume with the tiny hand-weighted models (a disc around the click; a bright
blob followed slice by slice), and the files write_outputs writes for NIfTI and array inputs."""
import json
import warnings

import numpy as np
import pytest

from radseg.errors import RadsegWarning
from radseg.workflow import (Prompt, as_click, as_prompts, check_prompts, prompts_from_json, segment_volume,
                             write_outputs)

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import radseg
    from tests.backends.tiny_model import make_tiny_model_dir
    from tests.propagation.tiny_model import make_tiny_propagation_dir

    d = tmp_path_factory.mktemp("workflow_models")
    return (radseg.load(make_tiny_model_dir(d / "click", size=64)),
            radseg.load(make_tiny_propagation_dir(d / "propagation", size=64)))


@pytest.fixture(scope="module")
def blob():
    from tests.propagation.tiny_model import blob_volume

    return blob_volume()  # (volume HU [40, 96, 96], true mask (slices 8..31), spacing (2, 0.8, 0.8))


# ---------------------------------------------------------------------------------------------------- prompts
def test_clicks_and_prompts_parse():
    assert as_click([4, 10, 12.5]) == (4, 10.0, 12.5, True)
    assert as_click((4, 10, 12, False)) == (4, 10.0, 12.0, False)
    assert as_click([4.0, 10, 12, "-"]) == (4, 10.0, 12.0, False)
    for bad, match in (([4, 10], "expected"), ([4.5, 1, 1], "whole number"), (["a", 1, 1], "numbers"),
                       ([1, 1, 1, "yes"], "positive"), ("1,2,3", "expected")):
        with pytest.raises(ValueError, match=match):
            as_click(bad)
    p = prompts_from_json('[{"name": " liver ", "clicks": [[40, 210, 150, true], [40, 236, 170, false]]},'
                          ' {"name": "spleen", "clicks": [[52, 190, 330]]}]')
    assert p == [Prompt("liver", ((40, 210.0, 150.0, True), (40, 236.0, 170.0, False))),
                 Prompt("spleen", ((52, 190.0, 330.0, True),))]
    assert p[0].seed_slice == 40 and p[0].to_dict()["clicks"][1] == [40, 236, 170, False]
    assert as_prompts(p[0]) == [p[0]]
    for text, match in (("{", "not valid JSON"), ('{"name": "a"}', "JSON list"), ("[]", "empty"),
                        ('[{"name": "", "clicks": [[1, 1, 1]]}]', "non-empty string"),
                        ('[{"name": "a", "clicks": []}]', "non-empty list"),
                        ('[{"name": "a", "clicks": [[1, 1, 1]], "colour": 1}]', "unknown key"),
                        ('[{"name": "a", "clicks": [[1, 1]]}]', "structure 1 \\('a'\\) click 1")):
        with pytest.raises(ValueError, match=match):
            prompts_from_json(text)


def test_prompts_are_checked_against_the_volume():
    shape = (10, 32, 40)
    ok = [Prompt("a", ((3, 5.0, 39.0, True), (3, 6.0, 6.0, False)))]
    assert check_prompts(ok, shape) == ok
    for prompts, match in (
            ([Prompt("a", ((3, 5.0, 5.0, True), (4, 6.0, 6.0, True)))], "slices 3, 4; all clicks of a structure"),
            ([Prompt("a", ((10, 5.0, 5.0, True),))], "outside the volume.*slice 0..9"),
            ([Prompt("a", ((3, 5.0, 40.0, True),))], "col 0..39"),
            ([Prompt("a", ((3, 5.0, 5.0, False),))], "only negative clicks"),
            ([Prompt("a", ((3, 5.0, 5.0, True),)), Prompt("a", ((4, 5.0, 5.0, True),))], "own name"),
            ([], "no structure")):
        with pytest.raises(ValueError, match=match):
            check_prompts(prompts, shape)


# ---------------------------------------------------------------------------------------------------- segmenting
def test_propagation_follows_the_blob_and_says_where_it_stopped(models, blob):
    vol, gt, spacing = blob
    calls = []
    res = segment_volume(vol, [{"name": "blob", "clicks": [(20, 48, 48)]}], click_model=models[0],
                         propagation_model=models[1], spacing=spacing, modality="CT",
                         progress=lambda done, total: calls.append((done, total)))
    s = res.structures[0]
    assert s.propagated and s.seed_slice == 20 and s.label == 1
    assert s.slices == (8, 31)  # exactly the blob's slices
    assert {d: (v["last"], v["reason"]) for d, v in s.stopped.items()} == {"up": (31, "vanished"),
                                                                          "down": (8, "vanished")}
    assert all(v["area_mm2"] > 0 for v in s.stopped.values())
    assert not (s.mask & ~gt).any()  # never outside the blob
    assert s.volume_ml == pytest.approx(s.voxels * 2 * 0.8 * 0.8 / 1000)
    assert set(s.timings_ms) == {"click", "propagate"}
    assert calls[-1] == (39, 39) and all(b == 39 for _, b in calls)  # slices - 1 steps per structure
    labels = res.labels()
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1}
    summary = res.summary()
    json.dumps(summary)
    assert summary["structures"][0]["slices"] == [8, 31] and summary["models"]["propagation"]["backend"]


def test_without_propagation_only_the_seed_slice(models, blob):
    vol, gt, spacing = blob
    res = segment_volume(vol, [{"name": "blob", "clicks": [(20, 48, 48)]}], click_model=models[0],
                         propagation_model="not-loaded-at-all", propagate=False, spacing=spacing, modality="CT")
    s = res.structures[0]
    assert not s.propagated and s.stopped is None and s.slices == (20, 20) and res.models["propagation"] is None


def test_overlapping_structures_warn_and_the_later_one_holds_the_voxels(models, blob):
    vol, gt, spacing = blob
    prompts = [{"name": "first", "clicks": [(20, 48, 48)]}, {"name": "second", "clicks": [(20, 50, 50)]}]
    with pytest.warns(RadsegWarning, match="'first' and 'second' overlap"):
        res = segment_volume(vol, prompts, click_model=models[0], propagation_model=models[1], spacing=spacing,
                             modality="CT")
    a, b = res.structures
    labels = res.labels()
    assert (labels[b.mask] == 2).all() and (labels[a.mask & ~b.mask] == 1).all()
    assert res.overlaps()[0][:2] == ("first", "second") and res.summary()["overlaps"][0]["voxels"] > 0


def test_modality_and_spacing_assumed_once_with_a_warning(models, blob):
    vol, gt, spacing = blob
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = segment_volume(vol, [{"name": "b", "clicks": [(20, 48, 48)]}], click_model=models[0],
                             propagation_model=models[1])
    texts = [str(w.message) for w in caught if issubclass(w.category, RadsegWarning)]
    assert sum("assuming CT" in t for t in texts) == 1 and sum("assuming 1 mm" in t for t in texts) == 1, texts
    assert res.modality == "CT" and res.spacing == (1.0, 1.0, 1.0)


def test_wrong_models_and_bad_volumes_are_refused(models, blob):
    vol, gt, spacing = blob
    prompt = [{"name": "b", "clicks": [(0, 48, 48)]}]
    with pytest.raises(ValueError, match="the propagation model given is a 'click' model"):
        segment_volume(vol, prompt, click_model=models[0], propagation_model=models[0], spacing=spacing, modality="CT")
    with pytest.raises(ValueError, match="the click model given is a 'propagation' model"):
        segment_volume(vol, prompt, click_model=models[1], propagate=False, spacing=spacing, modality="CT")
    with pytest.raises(ValueError, match="modality 'PT'"):
        segment_volume(vol, prompt, click_model=models[0], propagate=False, spacing=spacing, modality="PT")
    with pytest.raises(ValueError, match="nothing to propagate"):
        segment_volume(vol[:1], prompt, click_model=models[0], propagation_model=models[1], spacing=spacing,
                       modality="CT")
    with pytest.raises(ValueError, match="3D"):
        segment_volume(vol[0], prompt, click_model=models[0], propagate=False, spacing=spacing, modality="CT")


# ---------------------------------------------------------------------------------------------------- outputs
def _nifti_affine():
    # RAS with a flipped row axis, a shift and an odd slice step: a grid write_nifti would not invent by itself
    aff = np.diag([-0.8, 0.8, 2.5, 1.0])
    aff[:3, 3] = [40.0, -70.5, 12.25]
    return aff


def test_nifti_input_keeps_its_affine_and_the_labels_land_on_its_grid(models, blob, tmp_path):
    nib = pytest.importorskip("nibabel")
    import radseg.dicom as rd
    from radseg.workflow import read_volume

    vol, gt, _ = blob
    src = nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)).astype(np.int16), _nifti_affine())
    src.set_qform(_nifti_affine(), code=1)
    src.set_sform(_nifti_affine(), code=2)
    nib.save(src, tmp_path / "ct.nii.gz")
    v = read_volume(tmp_path / "ct.nii.gz")
    assert v.metadata["format"] == "nifti" and v.spacing == pytest.approx((2.5, 0.8, 0.8))
    res = segment_volume(v, [{"name": "liver", "clicks": [(20, 48, 48)]}], click_model=models[0],
                         propagation_model=models[1], modality="CT")
    out = tmp_path / "out"
    out.mkdir()
    written = write_outputs(res, v, out)
    assert sorted(written) == ["labels", "montage", "result"]  # no seg.dcm for a NIfTI input
    img = nib.load(out / "labels.nii.gz")
    np.testing.assert_array_equal(img.affine, src.affine)
    assert int(img.header["sform_code"]) == 2 and int(img.header["qform_code"]) == 1
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), res.labels())
    np.testing.assert_array_equal(rd.read_nifti_onto(out / "labels.nii.gz", v), res.labels())
    doc = json.loads((out / "result.json").read_text())
    assert doc["input"]["format"] == "nifti" and doc["input"]["shape"] == [40, 96, 96]
    assert doc["structures"][0]["slices"] == [8, 31] and doc["outputs"] == {"labels": "labels.nii.gz",
                                                                           "montage": "montage.png"}
    assert sorted(p.name for p in out.iterdir()) == ["labels.nii.gz", "montage.png", "result.json"]


def test_array_input_writes_labels_on_a_plain_grid(models, blob, tmp_path):
    nib = pytest.importorskip("nibabel")
    vol, gt, spacing = blob
    res = segment_volume(vol, [{"name": "b", "clicks": [(20, 48, 48)]}], click_model=models[0],
                         propagate=False, spacing=spacing, modality="CT")
    write_outputs(res, vol, tmp_path, montage=False)
    img = nib.load(tmp_path / "labels.nii.gz")
    assert img.shape == (96, 96, 40) and np.allclose(np.abs(np.diag(img.affine))[:3], [0.8, 0.8, 2.0])
    assert json.loads((tmp_path / "result.json").read_text())["input"]["format"] == "array"


class _NothingModel:
    """A click model that finds nothing: to see what an empty structure does."""

    class manifest:
        task = "click"

    modalities, backend, refused, path = ["CT", "MR"], "stub", {}, None

    def start(self, image, spacing=None, modality=None):
        shape = np.asarray(image).shape

        class Session:
            def click(self, row, col, positive=True):
                return np.zeros(shape, bool)

        return Session()


def test_a_structure_the_click_model_misses_is_empty_and_no_seg_is_written(models, tmp_path):
    pytest.importorskip("highdicom")
    import radseg.dicom as rd
    from radseg.dicom import synthetic

    synthetic.write_series(tmp_path / "series", synthetic.phantom((6, 32, 32)))
    vol = rd.read_series(tmp_path / "series")
    with pytest.warns(RadsegWarning, match="found nothing at its clicks on slice 3; it is left empty \\(nothing to"):
        res = segment_volume(vol, [{"name": "liver", "clicks": [(3, 16, 16)]}], click_model=_NothingModel(),
                             propagation_model=models[1])
    s = res.structures[0]
    assert s.voxels == 0 and s.slices is None and not s.propagated and s.stopped is None
    with pytest.warns(RadsegWarning, match="every structure is empty: no seg.dcm"):
        written = write_outputs(res, vol, tmp_path)
    assert "seg" not in written and not (tmp_path / "seg.dcm").exists()
    doc = json.loads((tmp_path / "result.json").read_text())
    assert doc["structures"][0]["slices"] is None and doc["montage"]["slices"] == [3]  # the clicked slice
