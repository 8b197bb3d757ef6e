"""Evaluation of radseg models against reference masks with simulated users (click model: `radseg.eval.click`).

Importing this package needs numpy only; data readers (nibabel) and plots (matplotlib) load where they are used.
"""
from .click import Case, CaseResult, evaluate, evaluate_case, summarize

__all__ = ["Case", "CaseResult", "evaluate", "evaluate_case", "summarize"]
