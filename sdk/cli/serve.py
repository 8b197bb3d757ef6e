"""`radseg serve`: the click and propagation models behind MONAI Label's HTTP endpoints.

    radseg serve --data FOLDER [--host 127.0.0.1] [--port 8000] [--token TOKEN | --insecure]

Serves GET /info/, GET /datastore/?output=all and POST /infer/{radseg_click|radseg_propagation}?image=ID as
MONAI Label does (foreground / background clicks as [x, y, z] voxel indices, the label as NIfTI), over every CT
and MR DICOM series and NIfTI volume of FOLDER. Binds to loopback by default; any other address needs --token
(clients send ``Authorization: Bearer TOKEN``) or an explicit --insecure. Stop with Ctrl-C.
"""
from __future__ import annotations

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub) -> None:
    import argparse

    from radseg.cli._common import whole_number

    p = sub.add_parser("serve", help="serve the click and propagation models over MONAI Label's HTTP endpoints",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="FOLDER", help="the images to serve (DICOM series, NIfTI)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=whole_number(1), default=8000, help="port (default: 8000)")
    p.add_argument("--token", default=None, help="bearer token every request must carry")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without a token")
    p.add_argument("--click-model", default="click", help="click model, bundled name or folder (default: click)")
    p.add_argument("--propagation-model", default="propagation",
                   help="propagation model, bundled name or folder (default: propagation)")
    p.add_argument("--workers", type=whole_number(1), default=None, metavar="N",
                   help="inferences at once (default: one per core); a request alone runs on all threads, "
                        "requests side by side on one each")
    p.set_defaults(func=run)


def run(args) -> int:
    from radseg.cli._common import input_path, load_model
    from radseg.errors import UsageError

    if args.port > 65535:
        raise UsageError(f"--port {args.port}: ports go up to 65535")
    if args.host not in LOOPBACK and args.token is None and not args.insecure:
        raise UsageError(f"--host {args.host} serves other machines: anyone who reaches it could read the images",
                         "add --token TOKEN (clients send Authorization: Bearer TOKEN), or --insecure on a trusted "
                         "network")
    input_path(args.data, "--data", kind="folder")
    import uvicorn

    from radseg.serve import Datastore, create_app

    datastore = Datastore(args.data)
    import os

    workers = args.workers or os.cpu_count() or 1
    click = load_model(args.click_model, flag="--click-model")  # a request alone: all threads
    propagation = load_model(args.propagation_model, flag="--propagation-model")
    shared = None
    if workers > 1:  # requests side by side: one thread each
        shared = (load_model(args.click_model, threads=1, flag="--click-model"),
                  load_model(args.propagation_model, threads=1, flag="--propagation-model"))
    app = create_app(datastore, click, propagation, token=args.token, concurrency=workers, shared_models=shared)
    print(f"radseg serve: {len(datastore.images)} images from {args.data} on http://{args.host}:{args.port} "
          f"(MONAI Label endpoints /info/, /datastore/, /infer/)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
