"""PACS round trip over DICOMweb: upload a series, pull it back, segment it, store a DICOM SEG, read it back.

    python examples/pacs_roundtrip.py                      # starts a private Orthanc on loopback (examples/orthanc.py)
    python examples/pacs_roundtrip.py --series DIR --json  # your own series; a JSON summary on stdout
    python examples/pacs_roundtrip.py --url http://host:8042/dicom-web   # an existing DICOMweb server

Steps, each through `dicomweb-client` against the PACS:
1. STOW-RS: upload the series. A PACS indexes instances by their UIDs, so instances with blank Study/Series/SOP
   UIDs (as some anonymisers leave them) get them first from `radseg.dicom.fill_missing_uids`, the same documented
   code as ``write_seg(..., fill_missing_uids=True)``: SOP UIDs from the file meta where it holds them, else new
   ones, one new Study/Series/FrameOfReference UID for the series; it warns (RadsegWarning) naming what it
   generated. A blank PatientID becomes "RADSEG-DEMO" (not a UID; some PACS refuse an empty one).
2. QIDO-RS: find the series and count its instances; WADO-RS: retrieve them into memory.
3. `radseg.dicom.read_series` on the retrieved datasets; segment: a classical body outline and bone mask
   (HU thresholds, closing, hole filling, largest component, from `radseg.geometry`), or, with ``--click S R C``,
   the click model (`radseg.load("click")`) on one slice. This is where an integrator's own model plugs in.
4. `radseg.dicom.write_seg`, STOW-RS the SEG, QIDO-RS it back (Modality SEG in the study), check that it
   references the uploaded series, WADO-RS retrieve it, and `radseg.dicom.read_seg` it onto the retrieved volume:
   every mask must come back pixel-exact.
Exit code 0 when everything matched, 1 when not, 2 for a usage error, 3 when Orthanc is not available.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import radseg  # noqa: E402

ANY_TRANSFER_SYNTAX = (("application/dicom", "*"),)
SHARED_CT = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg" / "example_ct_dicom"


# ------------------------------------------------------------------------------------------------ input
def local_datasets(folder) -> list:
    """All DICOM files under `folder` (one series) as pydicom Datasets, ready to upload.

    Missing UIDs are filled by `radseg.dicom.fill_missing_uids` (warns naming what it generated; the files on
    disk are not modified), a blank PatientID becomes "RADSEG-DEMO".
    """
    import pydicom

    paths = sorted(p for p in pathlib.Path(folder).rglob("*") if p.is_file())
    datasets = [pydicom.dcmread(p) for p in paths]
    if not datasets:
        raise SystemExit(f"no files under {folder}")
    radseg.dicom.fill_missing_uids(datasets)  # a PACS indexes by UID; the SEG then references these
    for ds in datasets:
        if not str(ds.get("PatientID", "")):
            ds.PatientID = "RADSEG-DEMO"
    return datasets


def synthetic_datasets(workdir) -> list:
    """A small synthetic CT phantom written with radseg.dicom.synthetic (used when no series is given)."""
    from radseg.dicom import synthetic

    folder = os.path.join(workdir, "phantom")
    synthetic.write_series(folder, synthetic.phantom((12, 96, 96)), spacing=(2.5, 0.9, 0.9))
    return local_datasets(folder)


# ------------------------------------------------------------------------------------------------ segment
def classical_masks(volume) -> dict:
    """Body outline and bone of a CT volume (HU), or the body of an MR volume, with radseg.geometry."""
    g = radseg.geometry
    img = volume.array
    if volume.modality == "CT":
        body_seed = img > -300
    else:
        body_seed = img > np.percentile(img, 60)
    body = np.zeros(img.shape, dtype=bool)
    for s in range(img.shape[0]):  # slice by slice: threshold, closing, hole filling (classical, not a model)
        m = g.binary_closing(body_seed[s], 3)
        m = g.fill_holes(m)
        body[s] = g.keep_largest(m, 1) if m.any() else m
    masks = {"body": body}
    if volume.modality == "CT":
        masks["bone"] = (img > 250) & body
    return masks


def click_mask(volume, s: int, r: int, c: int, model: str = "click") -> np.ndarray:
    """One structure from a single positive click at (slice s, row r, col c) with the click model."""
    net = radseg.load(model)
    sess = net.start(volume.array[s], spacing=volume.spacing[1:], modality=volume.modality or "CT")
    mask = np.zeros(volume.shape, dtype=bool)
    mask[s] = sess.click(r, c, positive=True)
    return mask


# ------------------------------------------------------------------------------------------------ round trip
def _tag(result: dict, keyword: str):
    from pydicom.datadict import tag_for_keyword

    item = result.get(f"{tag_for_keyword(keyword):08X}", {})
    values = item.get("Value") or [None]
    return values[0]


def roundtrip(client, datasets, workdir, clicks=None, model="click", log=print) -> dict:
    """Run steps 1-4 against a DICOMweb `client`; returns a summary dict (``ok`` says whether all matched)."""
    import pydicom

    times = {}
    study_uid = str(datasets[0].StudyInstanceUID)
    series_uid = str(datasets[0].SeriesInstanceUID)

    t = time.perf_counter()
    client.store_instances(datasets)
    times["stow_series_s"] = time.perf_counter() - t
    log(f"STOW-RS: uploaded {len(datasets)} instances of series {series_uid}")

    t = time.perf_counter()
    found = client.search_for_series(search_filters={"SeriesInstanceUID": series_uid})
    instances = client.search_for_instances(study_uid, series_uid)
    # Accept the stored transfer syntax ("*"): the default asks for Explicit VR Little Endian, which makes the PACS
    # transcode compressed images (Orthanc's built-in DCMTK cannot transcode JPEG 2000).
    retrieved = client.retrieve_series(study_uid, series_uid, media_types=ANY_TRANSFER_SYNTAX)
    times["qido_wado_series_s"] = time.perf_counter() - t
    log(f"QIDO-RS: {len(found)} series, {len(instances)} instances; WADO-RS: retrieved {len(retrieved)} datasets")

    t = time.perf_counter()
    volume = radseg.dicom.read_series(retrieved)
    times["read_series_s"] = time.perf_counter() - t
    local = radseg.dicom.read_series([ds for ds in datasets])
    same_pixels = bool(np.array_equal(volume.array, local.array) and np.allclose(volume.affine, local.affine))
    log(f"read_series: {volume}; identical to the uploaded series: {same_pixels}")

    t = time.perf_counter()
    masks = classical_masks(volume)
    if clicks:
        for k, (s, r, c) in enumerate(clicks):
            masks[f"clicked structure {k + 1}"] = click_mask(volume, s, r, c, model)
    times["segment_s"] = time.perf_counter() - t

    seg_path = os.path.join(workdir, "seg.dcm")
    t = time.perf_counter()
    radseg.dicom.write_seg(volume, masks, seg_path, algorithm_type="AUTOMATIC" if not clicks else "SEMIAUTOMATIC")
    seg = pydicom.dcmread(seg_path)
    client.store_instances([seg])
    times["write_and_stow_seg_s"] = time.perf_counter() - t
    log(f"STOW-RS: stored SEG {seg.SOPInstanceUID} with segments {list(masks)}")

    t = time.perf_counter()
    seg_series = client.search_for_series(study_uid, search_filters={"Modality": "SEG"})
    seg_series_uids = [_tag(s, "SeriesInstanceUID") for s in seg_series]
    held = str(seg.SeriesInstanceUID) in seg_series_uids
    back = client.retrieve_instance(study_uid, str(seg.SeriesInstanceUID), str(seg.SOPInstanceUID),
                                    media_types=ANY_TRANSFER_SYNTAX)
    back_path = os.path.join(workdir, "seg_from_pacs.dcm")
    back.save_as(back_path, enforce_file_format=True)
    referenced = [str(item.SeriesInstanceUID) for item in back.get("ReferencedSeriesSequence", [])]
    masks_back = radseg.dicom.read_seg(back_path, volume)
    times["qido_wado_seg_s"] = time.perf_counter() - t
    exact = {name: bool(name in masks_back and np.array_equal(masks_back[name], m)) for name, m in masks.items()}
    log(f"QIDO-RS: PACS holds the SEG: {held}; it references series {referenced}; pixel-exact: {exact}")

    ok = bool(held and same_pixels and all(exact.values()) and referenced == [series_uid]
              and len(retrieved) == len(datasets) and len(instances) == len(datasets))
    return {
        "ok": ok, "instances": len(datasets), "retrieved": len(retrieved), "volume_shape": list(volume.shape),
        "spacing_mm": list(volume.spacing), "modality": volume.modality, "retrieved_equals_uploaded": same_pixels,
        "pacs_holds_seg": held, "seg_references": referenced, "series_uid": series_uid,
        "segments": {name: int(m.sum()) for name, m in masks.items()}, "pixel_exact": exact,
        "seconds": {k: round(v, 3) for k, v in times.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", help="folder of a DICOM series (default: the TotalSegmentator CT in "
                                         "../shared/data if present, else a synthetic phantom)")
    parser.add_argument("--url", help="DICOMweb root of an existing server (default: start a private Orthanc)")
    parser.add_argument("--install", action="store_true", help="apt-get install Orthanc if it is missing (root)")
    parser.add_argument("--click", type=int, nargs=3, action="append", metavar=("S", "R", "C"),
                        help="also segment with the click model from a positive click at slice S, row R, col C")
    parser.add_argument("--model", default="click", help="click model name or exported folder (default: click)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout (logs go to stderr)")
    args = parser.parse_args(argv)

    from dicomweb_client import DICOMwebClient

    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory(prefix="radseg-pacs-") as workdir:
        if args.series:
            datasets = local_datasets(args.series)
        elif SHARED_CT.is_dir():
            datasets = local_datasets(SHARED_CT)
        else:
            datasets = synthetic_datasets(workdir)
        if args.url:
            summary = roundtrip(DICOMwebClient(args.url, timeout=120), datasets, workdir, args.click, args.model, log)
        else:
            from orthanc import OrthancServer, OrthancUnavailable, ensure_orthanc

            try:
                if args.install:
                    ensure_orthanc()
                server = OrthancServer()
            except OrthancUnavailable as exc:
                print(f"Orthanc is not available: {exc}", file=sys.stderr)
                return 3
            with server:
                log(f"Orthanc {server.url} (pid {server.process.pid}, files in {server.workdir})")
                client = DICOMwebClient(server.dicomweb_url, session=server.session(), timeout=120)
                summary = roundtrip(client, datasets, workdir, args.click, args.model, log)
                summary["orthanc"] = {"pid": server.process.pid, "statistics": server.statistics()}
    if args.json:
        print(json.dumps(summary, indent=2))
    log("PACS round trip " + ("passed" if summary["ok"] else "FAILED"))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
