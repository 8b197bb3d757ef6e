"""`radseg serve`: the viewer page, its editing sessions, and MONAI Label's endpoints, over the click,
propagation and body models.

    radseg serve (--data FOLDER | --dicomweb URL) [--host 127.0.0.1] [--port 8000] [--token TOKEN | --insecure]

Open http://127.0.0.1:8000/ for the viewer: pick a series, click on a structure (left button: inside, right
button or shift: outside), drag to move the last click, propagate it through the volume, correct a slice,
outline the body, save a DICOM SEG (to --out, and back to the PACS with --dicomweb). MONAI Label's clients (3D
Slicer's and OHIF's plugins, monailabel.client) use GET /info/, GET /datastore/?output=all and POST
/infer/{radseg_click|radseg_propagation}?image=ID (clicks as [x, y, z] voxel indices, the label as NIfTI).

Images: every CT and MR DICOM series and NIfTI volume of FOLDER, or every CT and MR series of a DICOMweb server
(QIDO-RS / WADO-RS, e.g. Orthanc's http://host:8042/dicom-web). Binds to loopback by default; any other address
needs --token (clients send ``Authorization: Bearer TOKEN``; the page takes it from ``/#token=TOKEN``) or an
explicit --insecure. Stop with Ctrl-C.
"""
from __future__ import annotations

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub) -> None:
    import argparse

    from radseg.cli._common import whole_number

    p = sub.add_parser("serve", help="the viewer page and MONAI Label's endpoints over the radseg models",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FOLDER", help="the images to serve (DICOM series, NIfTI)")
    source.add_argument("--dicomweb", metavar="URL", help="a DICOMweb root to serve the CT / MR series of")
    p.add_argument("--out", metavar="FOLDER", default=None,
                   help="where saved SEG files go (default: FOLDER/labels with --data, ./radseg-labels with "
                        "--dicomweb)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=whole_number(1), default=8000, help="port (default: 8000)")
    p.add_argument("--token", default=None, help="bearer token every request must carry")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without a token")
    p.add_argument("--click-model", default="click", help="click model, bundled name or folder (default: click)")
    p.add_argument("--propagation-model", default="propagation",
                   help="propagation model, bundled name or folder (default: propagation)")
    p.add_argument("--body-model", default="body", help="body model, bundled name or folder (default: body)")
    p.add_argument("--workers", type=whole_number(1), default=None, metavar="N",
                   help="inferences at once (default: one per core); a request alone runs on all threads, "
                        "requests side by side on one each")
    p.add_argument("--session-minutes", type=whole_number(1), default=30, metavar="M",
                   help="a viewer session expires after M minutes without a request (default: 30)")
    p.add_argument("--max-sessions", type=whole_number(1), default=32, metavar="N",
                   help="viewer sessions kept at once, the least recently used closed first (default: 32)")
    p.add_argument("--cache-mb", type=whole_number(64), default=2048, metavar="MB",
                   help="memory for loaded images, the least recently used dropped first (default: 2048)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from radseg.cli._common import input_path, load_model
    from radseg.errors import InputError, UsageError

    if args.port > 65535:
        raise UsageError(f"--port {args.port}: ports go up to 65535")
    if args.host not in LOOPBACK and args.token is None and not args.insecure:
        raise UsageError(f"--host {args.host} serves other machines: anyone who reaches it could read the images",
                         "add --token TOKEN (clients send Authorization: Bearer TOKEN), or --insecure on a trusted "
                         "network")
    _check_port(args.host, args.port)
    if args.data is not None:
        input_path(args.data, "--data", kind="folder")
    elif not args.dicomweb.lower().startswith(("http://", "https://")):
        raise UsageError(f"--dicomweb {args.dicomweb}: not an http(s) URL", "give the DICOMweb root, e.g. "
                                                                            "http://127.0.0.1:8042/dicom-web")
    import uvicorn

    from radseg.serve import Datastore, create_app
    from radseg.serve.editing import Models
    from radseg.serve.scheduling import Slots, ThreadAwareModel

    try:
        datastore = Datastore(args.data, cache_bytes=args.cache_mb << 20, dicomweb=args.dicomweb)
    except OSError as exc:
        raise InputError(f"--dicomweb {args.dicomweb}: the server does not answer ({type(exc).__name__})",
                         "check the URL and that the PACS is running") from exc
    from radseg._blas import hold_blas_cap

    workers = args.workers or os.cpu_count() or 1
    slots = Slots(workers)
    hold_blas_cap(1)  # sessions run side by side in this process: keep numpy's BLAS on one thread throughout

    def both(name, flag):  # a request alone: all threads; requests side by side: one thread each
        fast = load_model(name, flag=flag)
        return ThreadAwareModel(fast, load_model(name, threads=1, flag=flag) if workers > 1 else None, slots)

    models = Models(both(args.click_model, "--click-model"), both(args.propagation_model, "--propagation-model"),
                    both(args.body_model, "--body-model"))
    out = args.out or (os.path.join(args.data, "labels") if args.data is not None else "radseg-labels")
    app = create_app(datastore, models, slots=slots, out_dir=out, token=args.token,
                     session_ttl_s=args.session_minutes * 60.0, max_sessions=args.max_sessions)
    import logging

    # One line per opened session, inference, cancellation and save on stderr; image ids and models only.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log = logging.getLogger("radseg.serve")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    import warnings

    from radseg.errors import RadsegWarning

    # The SDK's warnings reach the person at the page (each answer's "warnings"), not this server's console.
    warnings.filterwarnings("ignore", category=RadsegWarning)
    shown = "localhost" if args.host in LOOPBACK else args.host
    print(f"radseg serve: {len(datastore.images)} images from {args.data or 'the DICOMweb server'}; open "
          f"http://{shown}:{args.port}/ (MONAI Label endpoints /info/, /datastore/, /infer/); SEG files go to {out}",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _check_port(host: str, port: int) -> None:
    """Fail before the models load when the address cannot be bound (uvicorn would exit deep inside)."""
    import socket

    from radseg.errors import InputError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: not an address of this machine ({exc.strerror})",
                         "give an IP address or a name this machine resolves") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})",
                             "choose another --port, or stop what is using it") from exc
