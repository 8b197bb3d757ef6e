"""`radseg segment --series`: the 3D workflow end to end with the tiny hand-weighted models (click: a disc around
the click; propagation: follows a bright blob in air) on a synthetic DICOM series and on a NIfTI file; the outputs
read back independently (highdicom SEG onto the series, nibabel, Pillow); the errors through the console script."""
import json

import numpy as np
import pytest

from radseg.cli import main
from tests.cli.test_contract import assert_one_line_error, run

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
pytest.importorskip("highdicom")
nib = pytest.importorskip("nibabel")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from radseg.dicom import synthetic
    from tests.backends.tiny_model import make_tiny_model_dir
    from tests.propagation.tiny_model import blob_volume, make_tiny_propagation_dir

    d = tmp_path_factory.mktemp("segment_volume")
    make_tiny_model_dir(d / "click", size=64)
    make_tiny_propagation_dir(d / "propagation", size=64)
    vol, gt, spacing = blob_volume()  # [40, 96, 96], the blob on slices 8..31
    synthetic.write_series(d / "series", vol, spacing=spacing)
    affine = np.diag([-0.8, -0.8, 2.0, 1.0])
    affine[:3, 3] = [30.0, 40.0, -20.0]
    nib.save(nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)).astype(np.int16), affine), d / "ct.nii.gz")
    (d / "prompts.json").write_text(json.dumps([
        {"name": "liver", "clicks": [[20, 48, 48, True], [20, 30, 30, False]]},
        {"name": "spleen", "clicks": [[12, 48, 40]]}]))
    return d


def segment(files, *extra, series="series", out="out"):
    return ["segment", "--series", str(files / series), "--model", str(files / "click"),
            "--out", str(files / out), *extra]


def _png(path):
    Image = pytest.importorskip("PIL.Image")
    return np.asarray(Image.open(path))


def test_dicom_series_propagated(files, capsys):
    import radseg.dicom as rd

    out = files / "out_dicom"
    code = main(segment(files, "--click", "20,48,48", "--name", "liver", "--propagate",
                        "--propagation-model", str(files / "propagation"), out="out_dicom"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["labels.nii.gz", "montage.png", "result.json", "seg.dcm"]
    vol = rd.read_series(files / "series")
    seg = rd.read_seg(out / "seg.dcm", vol)  # the SEG maps back onto the series it references
    labels = rd.read_nifti_onto(out / "labels.nii.gz", vol)
    assert list(seg) == ["liver"]
    np.testing.assert_array_equal(seg["liver"], labels == 1)
    assert set(np.unique(labels)) == {0, 1}
    res = json.loads((out / "result.json").read_text())
    assert res["input"]["format"] == "dicom" and res["input"]["shape"] == [40, 96, 96]
    assert res["input"]["series_instance_uid"] == vol.series_instance_uid and res["modality"] == "CT"
    (s,) = res["structures"]
    assert s["name"] == "liver" and s["label"] == 1 and s["clicks"] == [[20, 48, 48, True]]
    assert s["seed_slice"] == 20 and s["slices"] == [8, 31] and s["propagated"]
    assert s["volume_ml"] == pytest.approx(seg["liver"].sum() * 2.0 * 0.8 * 0.8 / 1000, abs=1e-3)
    assert {d: (v["last"], v["reason"]) for d, v in s["stopped"].items()} == {"up": (31, "vanished"),
                                                                             "down": (8, "vanished")}
    assert set(s["timings_ms"]) == {"click", "propagate"}
    assert res["models"]["click"]["backend"] == res["models"]["propagation"]["backend"] == "onnxruntime-cpu"
    assert {"read", "load_models", "segment", "write_seg", "write_labels", "write_montage"} <= set(res["timings_ms"])
    assert res["outputs"] == {"seg": "seg.dcm", "labels": "labels.nii.gz", "montage": "montage.png"}
    picture = _png(out / "montage.png")
    m = res["montage"]
    assert list(picture.shape) == m["size"] + [3] and m["slices"] == list(range(8, 32)) and m["grid"] == [5, 5]
    assert m["tile_shape"] == [288, 288]  # 96 pixels enlarged three times, nearest 256
    assert "1 liver: slices 8..31 (seed 20)" in captured.out
    assert "segment: 39/39 slice (100%)" in captured.err  # progress lines when not on a terminal


def test_prompts_file_on_nifti_keeps_the_affine(files, capsys):
    out = files / "out_nifti"
    code = main(segment(files, "--prompts", str(files / "prompts.json"), "--propagate", "--propagation-model",
                        str(files / "propagation"), "--modality", "CT", series="ct.nii.gz", out="out_nifti"))
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["labels.nii.gz", "montage.png", "result.json"]  # no SEG
    src, img = nib.load(files / "ct.nii.gz"), nib.load(out / "labels.nii.gz")
    np.testing.assert_array_equal(img.affine, src.affine)
    labels = np.asarray(img.dataobj).transpose(2, 1, 0)
    res = json.loads((out / "result.json").read_text())
    assert [s["name"] for s in res["structures"]] == ["liver", "spleen"] and res["input"]["format"] == "nifti"
    assert [s["seed_slice"] for s in res["structures"]] == [20, 12]
    assert set(np.unique(labels)) <= {0, 1, 2} and (labels == 2).any()
    assert res["overlaps"] and "overlap" in err  # the two clicks are on the same blob
    for s in res["structures"]:
        first, last = s["slices"]
        assert labels[first:last + 1].any() and not labels[:first][labels[:first] == s["label"]].any()
    assert len(res["montage"]["colors"]) == 2


def test_without_propagate_only_the_clicked_slice(files):
    import radseg.dicom as rd

    out = files / "out_2d"
    assert main(segment(files, "--click", "20,48,48", "--click", "20,48,60,-", "--name", "liver",
                        out="out_2d")) == 0
    vol = rd.read_series(files / "series")
    seg = rd.read_seg(out / "seg.dcm", vol)["liver"]
    assert np.flatnonzero(seg.any(axis=(1, 2))).tolist() == [20]
    res = json.loads((out / "result.json").read_text())
    s = res["structures"][0]
    assert s["slices"] == [20, 20] and not s["propagated"] and s["stopped"] is None
    assert res["models"]["propagation"] is None and res["montage"]["slices"] == [20]
    assert s["clicks"] == [[20, 48, 48, True], [20, 48, 60, False]]


def test_series_without_uids_needs_the_flag(files, tmp_path):
    import shutil

    import pydicom

    import radseg.dicom as rd

    folder = tmp_path / "anonymised"
    shutil.copytree(files / "series", folder)
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        del ds.FrameOfReferenceUID
        ds.save_as(f)
    args = ["segment", "--series", folder, "--model", files / "click", "--click", "20,48,48", "--name", "liver",
            "--out", tmp_path / "o"]
    proc = run(args)
    assert_one_line_error(proc, 1, "segment", "lack FrameOfReferenceUID", "add --fill-missing-uids")
    assert not (tmp_path / "o").exists()  # refused before any work
    proc = run(args + ["--fill-missing-uids"])
    assert proc.returncode == 0, proc.stderr
    assert "generated the DICOM UIDs" in proc.stderr
    res = json.loads((tmp_path / "o" / "result.json").read_text())
    generated = res["input"]["generated_uids"]["FrameOfReferenceUID"]
    assert res["input"]["frame_of_reference_uid"] == generated
    seg = rd.read_seg(tmp_path / "o" / "seg.dcm", rd.read_series(folder), check_frame_of_reference=False)
    assert seg["liver"][20].any()


def _two_series(files):
    folder = files / "two_series"
    if not folder.exists():
        import shutil

        from radseg.dicom import synthetic

        shutil.copytree(files / "series", folder)
        synthetic.write_series(folder / "other", synthetic.phantom((4, 32, 32)))
    return folder


CASES = {
    "2D click for a series": (lambda f: segment(f, "--click", "48,48"), 2,
                              ["--click '48,48': a --series run needs SLICE,ROW,COL"]),
    "click outside the volume": (lambda f: segment(f, "--click", "40,48,48"), 2,
                                 ["--click: click 40,48,48,+ is outside the volume", "slice 0..39"]),
    "clicks on two slices": (lambda f: segment(f, "--click", "20,48,48", "--click", "21,40,40"), 2,
                             ["slices 20, 21", "must be on one slice"]),
    "series path missing": (lambda f: segment(f, "--click", "1,1,1", series="nowhere"), 1,
                            ["--series", "nowhere: no such path"]),
    "series neither DICOM nor NIfTI": (lambda f: segment(f, "--click", "1,1,1", series="prompts.json"), 1,
                                       ["neither a DICOM file nor a NIfTI file", ".nii.gz"]),
    "folder without DICOM": (lambda f: segment(f, "--click", "1,1,1", series="click"), 1,
                             ["no DICOM series here", "a folder of DICOM images"]),
    "several series": (lambda f: segment(f, "--click", "1,1,1", series=_two_series(f).name), 1,
                       ["holds 2 image series", "choose one with --series-uid UID"]),
    "unknown series UID": (lambda f: segment(f, "--click", "1,1,1", "--series-uid", "1.2.3"), 1,
                           ["--series-uid '1.2.3' not found"]),
    "propagation model given a click model": (
        lambda f: segment(f, "--click", "20,48,48", "--propagate", "--propagation-model", f / "click"), 1,
        ["--propagation-model", "is a click model"]),
    "click model given a propagation model": (lambda f: segment(f, "--click", "20,48,48", "--model",
                                                                f / "propagation"), 1, ["is a propagation model"]),
    "prompts and clicks": (lambda f: segment(f, "--prompts", f / "prompts.json", "--click", "1,1,1"), 2,
                           ["--prompts and --click / --name both given"]),
    "bad prompts file": (lambda f: segment(f, "--prompts", f / "ct.nii.gz"), 1, ["--prompts", "UTF-8"]),
    "no click": (lambda f: segment(f), 2, ["no click given", "--prompts FILE"]),
    "2D flag for a series": (lambda f: segment(f, "--click", "1,1,1", "--slice", "3"), 2,
                             ["--slice is for --image / --demo"]),
    "3D flag without a series": (lambda f: ["segment", "--image", f / "ct.nii.gz", "--click", "1,1", "--propagate",
                                            "--out", f / "o"], 2, ["--propagate is for volumes", "--series"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_errors_are_one_line_with_their_exit_code(files, name):
    make_args, code, fragments = CASES[name]
    proc = run(make_args(files))
    assert_one_line_error(proc, code, "segment", *fragments)


def test_no_propagation_model_says_to_pass_a_folder(files, monkeypatch, tmp_path, capsys):
    """Without a bundled propagation model (an install that lacks it: here the bundled folder is an empty one), the
    default --propagation-model says what to pass instead."""
    import importlib

    from radseg.cli import main

    load_module = importlib.import_module("radseg.load")  # the module: radseg.load itself is the function
    monkeypatch.setattr(load_module, "BUNDLED_DIR", tmp_path / "no_models")
    code = main([str(a) for a in segment(files, "--click", "20,48,48", "--propagate")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(err) == 1, err
    assert "no propagation model is bundled" in err[0] and "pass --propagation-model FOLDER" in err[0]


def test_help_documents_the_volume_workflow():
    proc = run(["segment", "--help"])
    assert proc.returncode == 0
    for text in ("--series DIR_OR_NIFTI", "--prompts FILE", '"clicks": [[40, 210, 150, true]', "--propagate",
                 "--propagation-model", "--series-uid", "--fill-missing-uids", "seg.dcm", "labels.nii.gz",
                 "montage.png", "result.json"):
        assert text in proc.stdout, text
