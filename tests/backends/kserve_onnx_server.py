"""A KServe v2 model server on loopback that serves one ONNX file through ONNX Runtime (a stand-in for Triton).

    /work/kserve-venv/bin/python tests/backends/kserve_onnx_server.py --onnx sdk/models/click/model.onnx \
        --name radseg_click --http-port 8000 --grpc-port 8001 [--threads 1]

Triton Inference Server cannot be installed on this project's machines, but KServe's Python model server speaks
the same KServe v2 inference protocol (REST ``/v2/...`` and the ``inference.GRPCInferenceService`` gRPC service),
so `radseg.backends.triton.TritonBackend` is driven against this over real HTTP and gRPC. Only this script needs
`kserve`; it runs in its own interpreter (kserve pins protobuf < 7, pandas < 3, which the project venv must not
be downgraded to), so it imports nothing from radseg and only numpy and onnxruntime besides kserve.

The ORT session options mirror `radseg.backends.onnxruntime.session_options` (full graph optimisation, sequential
execution, one inter-op thread, no spinning), so that the server computes bit-identical logits to the SDK's local
backend with the same thread count. Clients wait for ``GET /v2/health/ready`` and the model's ready endpoint.
"""
from __future__ import annotations

import argparse
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, help="the ONNX model file to serve")
    p.add_argument("--name", required=True, help="model name on the server (the Triton repository's folder name)")
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (1)")
    p.add_argument("--stock-rest-decode", action="store_true",
                   help="keep kserve's REST input decode (binary tensors -> Python lists; see _keep_binary_inputs)")
    p.add_argument("--host", default="127.0.0.1", help="address both listeners bind (loopback by default)")
    return p.parse_args(argv)


def _bind_to(host: str) -> None:
    """Make kserve's listeners bind `host`: kserve 0.21 hard-codes 0.0.0.0 (uvicorn) and [::] (gRPC), and a test
    server has no business listening on every interface of a shared machine."""
    import grpc.aio._server as aio_server
    import uvicorn

    import kserve.protocol.rest.server as rest

    class LoopbackConfig(uvicorn.Config):
        def __init__(self, *a, **kw):
            kw["host"] = host
            super().__init__(*a, **kw)

    rest.uvicorn.Config = LoopbackConfig  # the module's own reference: `uvicorn.Config(app, host="0.0.0.0", ...)`
    original = aio_server.Server.add_insecure_port

    def add_insecure_port(self, address: str) -> int:
        return original(self, address.replace("[::]", host))

    aio_server.Server.add_insecure_port = add_insecure_port


def _keep_binary_inputs() -> None:
    """Keep a REST request's binary input tensors as bytes, as Triton does.

    kserve 0.21's `InferRequest.from_bytes` turns every binary input into a Python list of floats
    (``set_data_from_numpy(as_numpy(), binary_data=False)``): 27,648 floats for one click crop, about 5 ms that a
    Triton server does not spend. Dropping that one call leaves ``_raw_data`` in place, and `InferInput.as_numpy`
    then reads the bytes with ``np.frombuffer``; so the stand-in's HTTP cost is the protocol's, not kserve's decode.
    ``--stock-rest-decode`` keeps kserve's own path (for comparison).
    """
    from kserve.protocol import infer_type

    stock = infer_type.InferInput.set_data_from_numpy

    def set_data_from_numpy(self, tensor, binary_data=True):
        if not binary_data and self._raw_data is not None and self._datatype != "BYTES":
            return  # from_bytes re-encoding the bytes it just read: keep them
        return stock(self, tensor, binary_data=binary_data)

    infer_type.InferInput.set_data_from_numpy = set_data_from_numpy


def make_model(name: str, onnx_path: str, threads: int):
    import numpy as np
    import onnxruntime as ort
    from kserve import InferOutput, InferRequest, InferResponse, Model

    class OnnxModel(Model):
        """One ONNX graph; `predict` takes a v2 InferRequest of FP32 tensors and answers with FP32 tensors."""

        def __init__(self):
            super().__init__(name)
            self.load()

        def load(self) -> bool:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.inter_op_num_threads = 1
            opts.intra_op_num_threads = threads
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(onnx_path, sess_options=opts, providers=["CPUExecutionProvider"])
            self.inputs = self.session.get_inputs()
            self.outputs = self.session.get_outputs()
            self.ready = True
            return True

        @staticmethod
        def _types(args):
            # symbolic ONNX dims ("batch", "rows") are variable: -1 in the v2 metadata, as Triton reports them
            return [{"name": a.name, "datatype": "FP32", "shape": [d if isinstance(d, int) else -1 for d in a.shape]}
                    for a in args]

        def get_input_types(self):
            return self._types(self.inputs)

        def get_output_types(self):
            return self._types(self.outputs)

        def predict(self, payload: InferRequest, headers=None) -> InferResponse:
            feeds = {}
            for tensor in payload.inputs:
                if tensor.datatype != "FP32":
                    raise ValueError(f"input {tensor.name!r}: datatype {tensor.datatype}, this model takes FP32")
                feeds[tensor.name] = tensor.as_numpy()
            arrays = self.session.run(None, feeds)
            outputs = []
            for o, a in zip(self.outputs, arrays):
                out = InferOutput(name=o.name, shape=list(a.shape), datatype="FP32")
                # raw bytes, not `data=ndarray`: kserve 0.21's gRPC encoder tests `if output.data` (ambiguous for
                # an array), and raw bytes are what both protocols send back anyway
                out.set_data_from_numpy(np.ascontiguousarray(a, dtype=np.float32), binary_data=True)
                outputs.append(out)
            # binary outputs whenever the client asked for them (tritonclient does, per output): no JSON floats
            return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs,
                                 use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs)

    return OnnxModel()


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.argv = sys.argv[:1]  # kserve parses sys.argv when imported: keep our flags out of its parser
    _bind_to(args.host)
    import logging

    import kserve

    if not args.stock_rest_decode:
        _keep_binary_inputs()
    model = make_model(args.name, args.onnx, args.threads)
    server = kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1,
                                enable_latency_logging=False, grace_period=1, enable_docs_url=False)
    # after ModelServer(), which configures kserve's logging: per-request access, trace and interceptor lines cost
    # tens of microseconds each on the request path; warnings and errors still log
    for logger in ("uvicorn.access", "kserve.trace", "kserve", "uvicorn.error"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    print(f"LOADED {args.name}", flush=True)
    server.start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
