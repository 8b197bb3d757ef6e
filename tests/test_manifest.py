"""ModelManifest: JSON round trip, validation, version refusal."""
import json

import pytest

from radseg.manifest import FORMAT_VERSION, ModelManifest, default_click_manifest


def test_round_trip_keeps_every_field_and_extras(tmp_path):
    m = default_click_manifest(training={"steps": 10}, metrics={"dice": {"1": 0.8}})
    d = m.to_dict()
    d["custom_note"] = {"a": 1}
    (tmp_path / "manifest.json").write_text(json.dumps(d))
    back = ModelManifest.from_json(tmp_path / "manifest.json")
    assert back.extra == {"custom_note": {"a": 1}}
    assert back.replace(extra={}) == m
    back.to_json(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == d


def test_other_version_is_refused_with_advice(tmp_path):
    d = default_click_manifest().to_dict()
    d["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="(?s)format_version.*Re-export"):
        ModelManifest.from_json(tmp_path / "m.json")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        ModelManifest.from_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelManifest.from_json(tmp_path / "bad.json")
    d = default_click_manifest().to_dict()
    del d["input_size"]
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="input_size"):
        ModelManifest.from_json(tmp_path / "m.json")


@pytest.mark.parametrize("change", [
    {"input_size": 0}, {"input_size": 96.0}, {"in_channels": True}, {"task": ""},
    {"intensity": {}}, {"intensity": {"CT": {"method": "zscore", "low": 0, "high": 1}}},
    {"intensity": {"CT": {"method": "window", "low": 5.0, "high": 5.0}}},
    {"intensity": {"MR": {"method": "percentile", "low": -1.0, "high": 99.0}}},
    {"guidance": {"sigma_px": 0.0}}, {"crop": {"expand": 0.5}}, {"crop": {"min_size_mm": float("nan")}},
    {"crop": {"refine_first_click": "yes"}}, {"postprocess": {"keep_clicked_components": 1}},
    {"postprocess": {"reach_mm": -2.0}}, {"postprocess": []},
])
def test_invalid_fields_are_refused(change):
    with pytest.raises(ValueError):
        default_click_manifest().replace(**change)
