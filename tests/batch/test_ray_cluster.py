"""`radseg batch body --address` on a simulated multi-node Ray cluster (`ray.cluster_utils.Cluster`: a head and
two worker nodes, each its own raylet, on this machine); one worker node is removed mid-run, and its series must
be finished on the nodes that remain, none lost and none doubled.
"""
from __future__ import annotations

import json

import pytest

from tests.batch.conftest import check_outcomes, kill_leftovers, radseg_cli, results_written, short_tmpdir, wait_for

pytest.importorskip("ray", reason="Ray is not installed (pip install 'radseg[batch]')")


def test_node_lost_mid_run(batch_archive, tmp_path, monkeypatch):
    import shutil

    from ray.cluster_utils import Cluster

    from radseg.batch import read_summary

    root, expected = batch_archive
    out = tmp_path / "out"
    ray_tmp = short_tmpdir()
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        doomed = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        proc = radseg_cli("batch", "body", "--source", str(root), "--out", str(out), "--address", cluster.address,
                          "--workers", "3", "--json", env_extra={"RAY_TMPDIR": ray_tmp})
        wait_for(lambda: results_written(out) >= 2, 240, "two series done", proc)
        cluster.remove_node(doomed)  # its raylet and every worker on it die now
        stdout, stderr = proc.communicate(timeout=400)
        assert proc.returncode == 1 and stdout.strip(), stderr[-3000:]  # the faults fail, the rest must be done
        report = json.loads(stdout)
        assert report["workers"] == 3 and report["lost"] == 0
        assert report["done"] + report["failed"] == len(expected)
        check_outcomes(read_summary(out), root, expected)
    finally:
        cluster.shutdown()
        kill_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
