"""A throw-away Orthanc PACS on loopback, for examples and tests.

    with OrthancServer() as pacs:            # config, storage and logs in a temporary folder
        client = DICOMwebClient(pacs.dicomweb_url)

`OrthancServer` writes its own configuration (free loopback HTTP port, DICOM port off, remote access off, no
authentication, the DICOMweb plugin loaded), starts the `Orthanc` binary from Debian's packages ``orthanc`` and
``orthanc-dicomweb``, waits until both the REST API and the DICOMweb root answer, and on exit stops it (SIGTERM,
then SIGKILL after a grace period) and deletes the folder. It never touches a system-wide Orthanc service the
Debian package may have installed: that one uses /etc/orthanc and port 8042; this one only its temporary folder.

`ensure_orthanc()` installs the Debian packages when the binary is missing (root and apt-get required) and says
why when it cannot.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Optional

PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc/plugins", "/usr/local/share/orthanc/plugins")
PLUGIN_NAME = "libOrthancDicomWeb.so"
# Loopback needs no proxy: ignore http_proxy & co. from the environment (CI machines often set them).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class OrthancUnavailable(RuntimeError):
    """Orthanc or its DICOMweb plugin is not installed and could not be installed."""


def find_orthanc() -> tuple[Optional[str], Optional[str]]:
    """(path of the Orthanc binary, path of the DICOMweb plugin), None for what is missing."""
    exe = shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if os.path.exists(p)), None)
    plugin = next((os.path.join(d, PLUGIN_NAME) for d in PLUGIN_DIRS if os.path.exists(os.path.join(d, PLUGIN_NAME))), None)
    return exe, plugin


def ensure_orthanc(timeout: float = 900.0) -> tuple[str, str]:
    """Return (binary, plugin), installing Debian's ``orthanc`` and ``orthanc-dicomweb`` first if needed.

    Raises OrthancUnavailable with the reason (not root, no apt-get, apt failed or timed out).
    """
    exe, plugin = find_orthanc()
    if exe and plugin:
        return exe, plugin
    apt = shutil.which("apt-get")
    if apt is None:
        raise OrthancUnavailable("Orthanc is not installed and apt-get is not available to install it")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise OrthancUnavailable("Orthanc is not installed and installing it needs root (apt-get install orthanc "
                                 "orthanc-dicomweb)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    deadline = time.monotonic() + timeout
    steps = [[apt, "update"], [apt, "install", "-y", "--no-install-recommends", "orthanc", "orthanc-dicomweb"]]
    for cmd in steps:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OrthancUnavailable(f"installing Orthanc timed out after {timeout:.0f} s")
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=left)
        except subprocess.TimeoutExpired:
            raise OrthancUnavailable(f"{' '.join(cmd)} timed out after {timeout:.0f} s in all") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise OrthancUnavailable(f"{' '.join(cmd)} failed with exit code {proc.returncode}: {' | '.join(tail)}")
    exe, plugin = find_orthanc()
    if not (exe and plugin):
        raise OrthancUnavailable(f"apt-get installed the packages but Orthanc ({exe}) or {PLUGIN_NAME} ({plugin}) "
                                 "is still missing")
    return exe, plugin


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancServer:
    """A private Orthanc instance (see the module docstring). Use as a context manager, or start() / stop()."""

    def __init__(self, executable: Optional[str] = None, plugin: Optional[str] = None,
                 workdir: Optional[str] = None, startup_timeout: float = 60.0):
        found_exe, found_plugin = find_orthanc()
        self.executable = executable or found_exe
        self.plugin = plugin or found_plugin
        if not self.executable or not self.plugin:
            raise OrthancUnavailable(
                f"Orthanc binary ({self.executable}) or DICOMweb plugin ({self.plugin}) not found; install the Debian "
                "packages orthanc and orthanc-dicomweb (or call ensure_orthanc())"
            )
        self.startup_timeout = float(startup_timeout)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="radseg-orthanc-")
        self.port: Optional[int] = None
        self.process: Optional[subprocess.Popen] = None

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def config(self) -> dict:
        storage = os.path.join(self.workdir, "storage")
        return {
            "Name": "radseg-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpServerEnabled": True,
            "HttpPort": self.port,
            "RemoteAccessAllowed": False,  # loopback clients only
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,  # DICOMweb only: no DIMSE port to collide with
            "Plugins": [self.plugin],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado",
                         "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
            "SaveJobs": False,
            "ConcurrentJobs": 1,
            "HttpThreadsCount": 8,
            "StorageCompression": False,
            "OverwriteInstances": True,
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "OrthancServer":
        if self.process is not None:
            raise RuntimeError("this Orthanc is already running")
        os.makedirs(os.path.join(self.workdir, "storage"), exist_ok=True)
        for _attempt in range(3):  # the free port may be taken between the check and the bind
            self.port = free_port()
            path = os.path.join(self.workdir, "orthanc.json")
            with open(path, "w") as f:
                json.dump(self.config(), f, indent=2)
            log = open(os.path.join(self.workdir, "orthanc.log"), "ab")
            self.process = subprocess.Popen(
                [self.executable, path], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True,
            )
            log.close()
            if self._wait_ready():
                return self
            self._terminate()
        raise RuntimeError(f"Orthanc did not start; its log says:\n{self.log_tail()}")

    def _get(self, path: str, timeout: float = 2.0) -> Optional[bytes]:
        try:
            with _DIRECT.open(self.url + path, timeout=timeout) as resp:
                return resp.read() if resp.status == 200 else None
        except (urllib.error.URLError, ConnectionError, OSError):
            return None

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            system = self._get("/system")
            plugins = self._get("/plugins")
            if system and plugins and b"dicom-web" in plugins and self._get("/dicom-web/studies") is not None:
                return True
            time.sleep(0.2)
        return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(os.path.join(self.workdir, "orthanc.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def _terminate(self, grace: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)

    def stop(self) -> None:
        """Stop Orthanc and remove its temporary folder (when this object created it)."""
        self._terminate()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "OrthancServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def session(self):
        """A requests.Session for this server that ignores proxy settings from the environment (for
        dicomweb_client.DICOMwebClient(pacs.dicomweb_url, session=pacs.session()))."""
        import requests

        session = requests.Session()
        session.trust_env = False
        return session

    def statistics(self) -> dict:
        """Orthanc's /statistics (counts of patients, studies, series, instances)."""
        data = self._get("/statistics")
        return json.loads(data) if data else {}
