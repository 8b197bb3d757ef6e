"""`radseg train propagation`: a 3-step run on the shared CHAOS data, resumed to 5 steps; the usage errors, each a
one-line message before any data is loaded."""
import json

import pytest

from radseg.cli import main
from tests.conftest import shared_data

pytest.importorskip("torch")

SMALL = ["--size", "32", "--width", "4", "--batch", "2", "--threads", "1"]


def test_three_steps_on_chaos_then_resume(tmp_path, capsys):
    pytest.importorskip("nibabel")
    root = shared_data("chaos_t2_mri").parent
    out = tmp_path / "run"
    args = ["train", "propagation", "--data", str(root), "--datasets", "chaos", "--out", str(out), *SMALL]
    assert main(args + ["--steps", "3"]) == 0
    log = capsys.readouterr().out
    assert "data: " in log and "done: step 3" in log
    assert sorted(p.name for p in out.iterdir()) == ["final.pt", "last.pt", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "propagation" and manifest["input_size"] == 32
    training = manifest["training"]
    assert training["data"] == ["chaos"] and training["steps"] == 3 and training["config"]["width"] == 4
    assert all(c.startswith("chaos") for c in training["classes"])
    assert main(args + ["--steps", "5", "--resume"]) == 0
    log = capsys.readouterr().out
    assert "resumed from" in log and "at step 3" in log and "done: step 5" in log
    assert json.loads((out / "manifest.json").read_text())["training"]["steps"] == 5


def _checkpoint(path, manifest):
    import torch

    torch.save({"model": {}, "manifest": manifest.to_dict()}, path)
    return path


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    (d / "chaos_t2_mri").mkdir(parents=True)
    return d


def _errors(tmp_path, data):
    from radseg.manifest import default_click_manifest, default_propagation_manifest

    click = _checkpoint(tmp_path / "click.pt", default_click_manifest(input_size=96))
    narrow = default_propagation_manifest(96)
    narrow = _checkpoint(tmp_path / "narrow.pt", narrow.replace(model={**narrow.model, "width": 8}))
    base = ["train", "propagation", "--data", str(data), "--out", str(tmp_path / "run")]
    return {
        "unknown data set": (base + ["--datasets", "chaos,lungs"], 2, ["--datasets 'chaos,lungs'", "'lungs'",
                                                                       "btcv, chaos, hippocampus"]),
        "empty data set list": (base + ["--datasets", ","], 2, ["--datasets", "no data set named"]),
        "data set folder missing": (base + ["--datasets", "btcv,chaos"], 1, ["has no btcv_sabs_ct/",
                                                                             "--datasets"]),
        "data folder missing": (["train", "propagation", "--data", str(tmp_path / "absent"), "--out",
                                 str(tmp_path / "run")], 1, ["--data", "no such folder"]),
        "click flag": (base + ["--max-corrections", "3"], 2, ["--max-corrections is for the click task"]),
        "click data sets": (["train", "click", "--datasets", "chaos,lungs", "--data", str(data), "--out",
                             str(tmp_path / "run")], 2, ["'lungs'", "btcv, chaos, totalseg, hippocampus"]),
        "group weight of an unchosen set": (["train", "click", "--datasets", "chaos", "--group-weights", "btcv=0.5",
                                             "--data", str(data), "--out", str(tmp_path / "run")], 2,
                                            ["--group-weights 'btcv=0.5'", "'btcv'", "choose from chaos"]),
        "group weight not a number": (["train", "click", "--datasets", "chaos", "--group-weights", "chaos=lots",
                                       "--data", str(data), "--out", str(tmp_path / "run")], 2,
                                      ["'chaos=lots'", "positive weight"]),
        "group weights for propagation": (base + ["--group-weights", "chaos=1"], 2,
                                          ["--group-weights is for the click task"]),
        "bad size": (base + ["--size", "40"], 2, ["--size 40", "multiple of 16"]),
        "bad steps": (base + ["--steps", "0"], 2, ["--steps", "at least 1"]),
        "unknown task": (["train", "segmentation"], 2, ["invalid choice: 'segmentation'"]),
        "init folder": (base + ["--datasets", "chaos", "--init", str(tmp_path)], 2, ["is a folder", ".pt"]),
        "init missing": (base + ["--datasets", "chaos", "--init", str(tmp_path / "nope.pt")], 1,
                         ["--init", "not found"]),
        "init of a click model": (base + ["--datasets", "chaos", "--init", str(click)], 1,
                                  ["is a click checkpoint"]),
        "init of another width": (base + ["--datasets", "chaos", "--init", str(narrow)], 2,
                                  ["width 8 / size 96", "pass --width 8 --size 96"]),
    }


ERROR_NAMES = ["unknown data set", "empty data set list", "data set folder missing", "data folder missing",
               "click flag", "click data sets", "group weight of an unchosen set", "group weight not a number",
               "group weights for propagation", "bad size", "bad steps", "unknown task", "init folder",
               "init missing", "init of a click model", "init of another width"]


@pytest.mark.parametrize("name", ERROR_NAMES)
def test_usage_errors_are_one_line(tmp_path, data, capsys, name):
    args, code, fragments = _errors(tmp_path, data)[name]
    assert main(args) == code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("radseg train"), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_group_weights_override_only_the_named_sets():
    from radseg.cli.train import parse_group_weights
    from radseg.training.data.anatomy import CLICK_DATASETS, GROUP_WEIGHTS

    weights = parse_group_weights("btcv=0.45, totalseg=0.05,", tuple(CLICK_DATASETS))
    assert weights["btcv"] == 0.45
    assert weights["totalseg_ct"] == weights["totalseg_mr"] == 0.05  # one data set, two groups
    assert {k: v for k, v in weights.items() if not k.startswith(("btcv", "totalseg"))} == \
        {k: v for k, v in GROUP_WEIGHTS.items() if not k.startswith(("btcv", "totalseg"))}
    assert GROUP_WEIGHTS["btcv"] != 0.45  # the defaults themselves are left alone


def test_help_examples_name_real_flags():
    import re

    from radseg.cli import build_parser
    from radseg.cli import train as train_cli

    parser = build_parser()
    flags = set()
    for action in parser._subparsers._group_actions[0].choices["train"]._actions:
        flags.update(action.option_strings)
    for line in train_cli.__doc__.splitlines():
        if line.strip().startswith("radseg train"):
            used = set(re.findall(r"(--[a-z-]+)", line.split("#")[0]))
            assert used <= flags, (line, used - flags)
            assert main(line.split("#")[0].split()[1:] + ["--help"]) == 0
