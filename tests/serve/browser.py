"""Debian's Chromium for the viewer's browser tests, driven by Playwright (PyPI): installed with apt-get when
missing (root), like Orthanc, and started headless with everything that reaches for the internet switched off
(this machine has none: background networking, component updates and sync would retry refused connections)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


class ChromiumUnavailable(RuntimeError):
    """Chromium is not installed and could not be installed."""


def ensure_chromium(timeout: float = 900.0) -> str:
    """The path of Debian's Chromium, installing the ``chromium`` package first when it is missing."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        raise ChromiumUnavailable("Chromium is not installed and apt-get is not available to install it")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise ChromiumUnavailable("Chromium is not installed and installing it needs root (apt-get install chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    deadline = time.monotonic() + timeout
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                  timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise ChromiumUnavailable(f"{' '.join(cmd)} timed out after {timeout:.0f} s in all") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ChromiumUnavailable(f"{' '.join(cmd)} failed with exit code {proc.returncode}: {' | '.join(tail)}")
    if not os.path.exists(CHROMIUM):
        raise ChromiumUnavailable(f"apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


def launch(playwright):
    """A headless Chromium browser (Playwright's Browser) on Debian's binary."""
    return playwright.chromium.launch(executable_path=ensure_chromium(), headless=True, args=FLAGS)
