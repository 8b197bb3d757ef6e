"""Segmentation metrics: overlap measures and surface distances (Hausdorff, HD95, mean surface distance)."""

__all__: list[str] = []
