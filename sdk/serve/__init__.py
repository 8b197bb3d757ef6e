"""`radseg serve`: radseg's click and propagation models behind MONAI Label's HTTP endpoints.

    radseg serve --data FOLDER [--host 127.0.0.1] [--port 8000] [--token TOKEN | --insecure]

Clients that drive MONAI Label's DeepGrow models (the MONAI Label Python client, 3D Slicer's and OHIF's MONAI
Label plugins) send foreground / background clicks in voxel indices and get the label volume back as NIfTI:
`radseg.serve.app` (endpoints), `radseg.serve.datastore` (the images of FOLDER by id), `radseg.serve.infer`
(points -> masks). Needs ``pip install 'radseg[serve]'``.
"""
from .app import create_app
from .datastore import Datastore

__all__ = ["create_app", "Datastore"]
