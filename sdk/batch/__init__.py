"""Archive-scale batch segmentation: every CT and MR series of a folder tree or a DICOMweb server, on Ray.

    from radseg.batch import BodyJob, run_ray, run_loop
    report = run_ray("archive/", BodyJob(out="out/"))             # a local Ray instance on this machine's cores
    report = run_ray(url, BodyJob(out="out/", stow_url=url), address="head:6379")   # a cluster, STOW back
    report.done, report.failed, report.summary                   # OUT/summary.csv, OUT/summary.parquet

Per series OUT/series/<key>/ holds seg.dcm, rtstruct.dcm, body.ply, montage.png and result.json (written last:
the series is done), or failed.json with the cause. A rerun skips what is done. Reads run in Ray tasks for a
DICOMweb source and in the segmenting actors for a folder (``run_ray(..., read_stage="tasks" | "actor")``).
`run_loop` does the same work in a plain loop in this process. The command is ``radseg batch body``; Ray comes
with ``pip install 'radseg[batch]'``.
"""
from .jobs import BodyJob, process_series
from .records import SUMMARY_COLUMNS, read_summary
from .runner import BatchReport, run_loop
from .listing import list_folder_series
from .sources import list_dicomweb_series, list_series_source


def run_ray(*args, **kwargs):
    """`radseg.batch.ray_pipeline.run_ray` (imported on first use: Ray is an optional extra)."""
    from .ray_pipeline import run_ray as _run

    return _run(*args, **kwargs)


__all__ = ["BodyJob", "BatchReport", "run_ray", "run_loop", "process_series", "list_folder_series",
           "list_dicomweb_series", "list_series_source", "read_summary", "SUMMARY_COLUMNS"]
