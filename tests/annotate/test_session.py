"""The session both front ends share: current pair, picture, decisions recorded with their seconds, the tally."""
import numpy as np
import pytest

from radseg.annotate import AnnotationStore, Session, build_queue, load_items, read_accepted
from radseg.annotate.session import DISCARD, KEEP, QUIT, action_for_keysym
from tests.annotate._fake import candidates as fake


@pytest.mark.parametrize("keysym, action", [
    ("y", KEEP), ("Y", KEEP), ("n", DISCARD), ("space", DISCARD), ("Return", DISCARD), ("Left", DISCARD),
    ("q", QUIT), ("Q", QUIT), ("Escape", QUIT), ("Shift_L", None), ("Control_R", None), ("Caps_Lock", None),
])
def test_keysyms(keysym, action):
    assert action_for_keysym(keysym) == action


def test_session_records_decisions_with_their_seconds(tmp_path):
    vol = np.random.default_rng(0).normal(size=(2, 40, 40)).astype(np.float32)
    with AnnotationStore(tmp_path) as store:
        session = Session(build_queue(load_items([vol]), store, fake, seed=2), store)
        assert session.position == 1 and session.left == 6 and session.report()["seconds_mean"] is None
        first = session.current
        rgb = session.picture()
        assert rgb.dtype == np.uint8 and rgb.shape[1] == 520 and rgb.shape[0] > 520  # 40 px * 13
        assert "pair 1 of 6" in session.prompt_text() and first.name in session.prompt_text()
        session.decide(True, 3.0)
        session.decide(False, 1.0)
        assert session.position == 3 and session.left == 4
        r = session.report()
        assert (r["decided"], r["accepted"], r["left"], r["total"], r["seconds_mean"]) == (2, 1, 4, 6, 2.0)
        assert "decided 2 (1 kept) this session, 4 left of 6; 2.00 s per decision" in session.report_line()
    (image, mask, meta), = read_accepted(tmp_path)
    np.testing.assert_array_equal(mask, first.mask)
    np.testing.assert_array_equal(image, first.item.image)
    assert meta["seconds"] == 3.0 and meta["names"] == list(first.names) and meta["slice"] == first.item.slice
    with AnnotationStore(tmp_path) as store:  # resumed: positions continue
        session = Session(build_queue(load_items([vol]), store, fake, seed=2), store)
        assert session.position == 3 and session.left == 4
        while session.current is not None:
            session.decide(False, 0.5)
        assert session.left == 0
        with pytest.raises(IndexError):
            session.decide(True, 1.0)
