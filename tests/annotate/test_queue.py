"""The work list: slices from every kind of source, identical candidates once, a seeded order stable across runs,
resume skipping decided pairs."""
import numpy as np
import pytest

from radseg.annotate import AnnotationStore, build_queue, candidate_pairs, load_items, split_names
from radseg.annotate.queue import Item, image_key, mask_key
from radseg.errors import InputError
from tests.annotate._fake import candidates as fake
from tests.conftest import shared_data


def _volume(slices=3, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (slices, 24, 32)).astype(np.float32)


class _NoneDecided:
    def decided(self, item, candidate):
        return False


def test_items_from_arrays_npy_and_every(tmp_path):
    vol = _volume(5)
    np.save(tmp_path / "v.npy", vol)
    np.save(tmp_path / "s.npy", vol[0].astype(np.int16))
    items = load_items([tmp_path / "v.npy", vol[1], tmp_path / "s.npy"])
    # vol[1] repeats slice 1 of v.npy: one item
    assert [(it.source.endswith("v.npy"), it.slice) for it in items[:5]] == [(True, k) for k in range(5)]
    assert items[5].source.endswith("s.npy") and items[5].slice is None
    assert len(items) == 6 and all(it.image.dtype == np.float32 and it.image.ndim == 2 for it in items)
    assert [it.slice for it in load_items([vol], every=2)] == [0, 2, 4]


def test_items_from_a_real_nifti_volume():
    path = shared_data("chaos_t2_mri", "images", "chaos_t2_01.nii.gz")
    items = load_items([path], every=10)
    assert len(items) >= 3 and items[0].image.shape == (256, 256) and items[1].slice == 10


def test_items_from_a_dicom_file():
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    items = load_items([get_testdata_file("CT_small.dcm")])
    assert len(items) == 1 and items[0].image.shape == (128, 128) and items[0].slice == 0


def test_items_from_a_dicom_series_folder(tmp_path):
    pytest.importorskip("pydicom")
    import shutil

    from pydicom.data import get_testdata_file

    (tmp_path / "series").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "series" / "1.dcm")
    (item,) = load_items([tmp_path / "series"])
    assert item.image.shape == (128, 128) and item.source.endswith("series")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no usable DICOM series"):
        load_items([tmp_path / "empty"])


@pytest.mark.parametrize("bad, fragment", [
    (np.zeros((2, 2, 2, 2)), "shape"), (np.array(["a", "b"]), "shape"), (np.zeros((2, 2), complex), "dtype"),
])
def test_bad_arrays_are_refused(bad, fragment):
    with pytest.raises(InputError, match=fragment):
        load_items([bad])


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_items([tmp_path / "absent.nii.gz"])
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="not a readable .npy"):
        load_items([tmp_path / "bad.npy"])
    (tmp_path / "bad.nii.gz").write_bytes(b"not nifti")
    with pytest.raises(InputError, match="NIfTI"):
        load_items([tmp_path / "bad.nii.gz"])


def test_identical_candidates_are_one_pair_with_joined_names():
    item = load_items([_volume(1)[0]])[0]
    pairs = candidate_pairs(item, fake)
    assert [p.names for p in pairs] == [("T50", "T50b"), ("T75",), ("BOX", "M3(1,3,0)")]
    assert len({p.key for p in pairs}) == 3
    np.testing.assert_array_equal(pairs[0].mask, item.image > np.median(item.image))
    assert pairs[2].name == "BOX,M3(1,3,0)" and pairs[2].meta()["names"] == ["BOX", "M3(1,3,0)"]
    # the real generator's merged names keep M3's commas
    assert split_names("M3(1,1,0),M3(1,2,0),M1(2)") == ["M3(1,1,0)", "M3(1,2,0)", "M1(2)"]


def test_generator_mistakes_name_the_slice():
    item = Item("img-x", np.zeros((4, 5), np.float32), "ct.nii.gz", 7)
    with pytest.raises(InputError, match="ct.nii.gz slice 7: the candidate generator failed"):
        candidate_pairs(item, lambda image: 1 / 0)
    with pytest.raises(InputError, match="has shape"):
        candidate_pairs(item, lambda image: [("A", np.zeros((5, 4), bool))])
    with pytest.raises(InputError, match="not \\(name, mask\\)"):
        candidate_pairs(item, lambda image: [np.zeros((4, 5), bool)])


def test_order_is_random_and_stable_by_seed():
    items = load_items([_volume(4)])
    orders = {seed: [(p.item.key, p.key) for p in build_queue(items, _NoneDecided(), fake, seed=seed)]
              for seed in (0, 1)}
    again = [(p.item.key, p.key) for p in build_queue(load_items([_volume(4)]), _NoneDecided(), fake, seed=0)]
    assert again == orders[0]
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])
    # not slice by slice: the first few pairs come from more than one slice
    assert len({item for item, _ in orders[0][:4]}) > 1
    # threads change nothing
    threaded = build_queue(items, _NoneDecided(), fake, seed=0, workers=3)
    assert [(p.item.key, p.key) for p in threaded] == orders[0]


def test_adding_a_source_keeps_the_order_of_the_others():
    a, b = _volume(2, seed=0), _volume(2, seed=1)
    before = [(p.item.key, p.key) for p in build_queue(load_items([a]), _NoneDecided(), fake)]
    after = [(p.item.key, p.key) for p in build_queue(load_items([a, b]), _NoneDecided(), fake)]
    assert [pair for pair in after if pair in set(before)] == before


def test_resume_skips_decided_pairs(tmp_path):
    items = load_items([_volume(3)])
    with AnnotationStore(tmp_path) as store:
        first = build_queue(items, store, fake, seed=5)
        assert first.total == 9 and first.decided_before == 0 and len(first) == 9
        for pair in first.pairs[:4]:
            store.record(pair.item.key, pair.key, False, 1.0)
    with AnnotationStore(tmp_path) as store:
        second = build_queue(load_items([_volume(3)]), store, fake, seed=5)
        assert second.total == 9 and second.decided_before == 4
        assert [(p.item.key, p.key) for p in second] == [(p.item.key, p.key) for p in first.pairs[4:]]
        limited = build_queue(items, store, fake, seed=5, limit=2)
        assert len(limited) == 2 and limited.decided_before == 4


def test_keys_depend_on_pixels_only():
    img = _volume(1)[0]
    assert image_key(img) == image_key(img.astype(np.float64)) != image_key(img[:, ::-1])
    assert image_key(img).startswith("img-") and mask_key(img > 0).startswith("msk-")
    assert mask_key(img > 0) == mask_key((img > 0).astype(np.uint8)) != mask_key(img > 0.1)
    assert mask_key(np.zeros((2, 8), bool)) != mask_key(np.zeros((4, 4), bool))
