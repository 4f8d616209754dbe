"""Inference runtimes for frozen timm featurizers: what runs the embedding graph, at which precision.

``torch`` (the default) runs the network eagerly in PyTorch, on any device. ``onnx`` and ``openvino``
(the ``runtimes`` extra: onnxruntime, openvino) run the whole embedding graph on the CPU: uint8 pixels
in, normalisation, the backbone up to its deepest selected level, the pooled levels and the head's
pre-logits out, one graph exported once with torch's ONNX exporter and handed to ONNX Runtime or
OpenVINO, whose graph compilers fold BatchNorm, fuse convolutions with their activations and pick
VNNI/AMX kernels. The export is cached by the graph's fingerprint (the featurizer's, without its
runtime) in the project (``<project>/runtimes/<fingerprint>.onnx``, written atomically); without a
project (``ImageEmbedder`` without one) it goes to a temporary folder and is deleted once loaded.

Precisions: ``fp32`` everywhere (the same embeddings as torch to float tolerance); ``bf16`` with torch
(``torch.autocast``, CPU or CUDA) and OpenVINO (its inference-precision hint: bfloat16 kernels where the
CPU has them, AVX-512 BF16 or AMX; refused where it has not). The runtime and precision are part of the
featurizer's identity (its ``describe()``'s ``runtime`` field, absent for torch fp32), so rows of two
runtimes never share a cache. Activation maps need gradients: they always run the torch network.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError

log = logging.getLogger(__name__)

DEFAULT_RUNTIME = "torch"
DEFAULT_PRECISION = "fp32"
PRECISIONS = ("fp32", "bf16")
EXTRA = "runtimes"  # pip install "pixelboard[runtimes]"
ONNX_OPSET = 17


@dataclass(frozen=True)
class RuntimeInfo:
    """A runtime's static facts: the precisions it offers and the package that provides it."""

    name: str
    precisions: tuple[str, ...]
    package: str = ""  # the PyPI distribution of the extra ("" for torch)
    module: str = ""  # its import name
    summary: str = ""


RUNTIMES: dict[str, RuntimeInfo] = {info.name: info for info in (
    RuntimeInfo("torch", ("fp32", "bf16"), summary="PyTorch eager (any device; the default)"),
    RuntimeInfo("onnx", ("fp32",), "onnxruntime", "onnxruntime", "ONNX Runtime on the CPU"),
    RuntimeInfo("openvino", ("fp32", "bf16"), "openvino", "openvino", "OpenVINO on the CPU"),
)}


def check_runtime(runtime: str, precision: str) -> RuntimeInfo:
    """The runtime's facts, or one line naming the unknown runtime or the precision it lacks."""
    if runtime not in RUNTIMES:
        raise PixelboardError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    info = RUNTIMES[runtime]
    if precision not in PRECISIONS:
        raise PixelboardError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision not in info.precisions:
        raise PixelboardError(f"runtime {runtime} has no {precision} precision; it offers {', '.join(info.precisions)}")
    return info


def import_runtime(runtime: str):
    """The runtime's module, or one line naming the extra that provides it."""
    info = RUNTIMES[runtime]
    try:
        return _IMPORTERS[runtime]()
    except ImportError:
        raise PixelboardError(f"--runtime {runtime} needs {info.package}: pip install \"pixelboard[{EXTRA}]\" "
                              f"(or pip install {info.package})") from None


def runtime_identity(runtime: str, precision: str) -> dict | None:
    """The ``runtime`` field of a featurizer's ``describe()``: None for torch fp32 (the identity of old caches)."""
    if runtime == DEFAULT_RUNTIME and precision == DEFAULT_PRECISION:
        return None
    info = RUNTIMES[runtime]
    identity = {"name": runtime, "precision": precision}
    if info.package:
        try:
            identity["version"] = metadata.version(info.package)
        except metadata.PackageNotFoundError:
            import_runtime(runtime)  # raises the one-line "install the extra"
    return identity


def export_onnx(graph, example, path: Path) -> None:
    """``graph`` (a torch module: uint8 (N, H, W, C) -> float32 (N, d)) as ONNX, batch axis free; atomic."""
    import torch

    try:
        import onnx  # noqa: F401  (torch's exporter writes the file through it)
    except ImportError:
        raise PixelboardError(f"exporting for another runtime needs onnx: pip install \"pixelboard[{EXTRA}]\"") from None
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        # dynamo=False: the TorchScript exporter needs no onnxscript and handles timm's
        # forward_intermediates as it runs (a trace); the dynamo exporter needs another package.
        torch.onnx.export(graph.eval(), (example,), buffer, input_names=["pixels"], output_names=["embeddings"],
                          dynamic_axes={"pixels": {0: "batch"}, "embeddings": {0: "batch"}},
                          opset_version=ONNX_OPSET, dynamo=False)
    atomic.write_bytes(path, buffer.getvalue())


def build_engine(runtime: str, precision: str, graph_fingerprint: str, export: Callable[[Path], None],
                 export_dir: Path | None, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A callable uint8 (N, H, W, C) -> float32 (N, d) that runs the exported graph with ``runtime``.

    ``export(path)`` writes the graph's ONNX file; it is called only when ``export_dir`` holds no
    file for ``graph_fingerprint`` yet (or when there is no ``export_dir``: then into a temp folder).
    """
    check_runtime(runtime, precision)
    module = import_runtime(runtime)
    with contextlib.ExitStack() as stack:
        folder = Path(export_dir) if export_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = folder / f"{graph_fingerprint}.onnx"
        if not path.exists():
            log.info("exporting the embedding graph to %s (once per featurizer)", path)
            export(path)
        return _ENGINES[runtime](module, path, precision, threads)


def _onnx_engine(ort, path: Path, precision: str, threads: int):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a damaged export: say which file, and how to get a fresh one
        raise atomic.damaged(path, f"ONNX Runtime cannot load it ({str(exc).splitlines()[0]})",
                             fix="delete it; the next run exports it again") from None

    def run(pixels: np.ndarray) -> np.ndarray:
        return session.run(None, {"pixels": pixels})[0]
    return run


@functools.lru_cache(maxsize=1)
def _openvino_core(ov):
    """One OpenVINO Core per process, never released: releasing the last one unloads its CPU plugin library,
    and a signal handled after that (a DataLoader worker's SIGCHLD) crashed the process in the dynamic linker."""
    return ov.Core()


def _openvino_engine(ov, path: Path, precision: str, threads: int):
    core = _openvino_core(ov)
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise PixelboardError("--precision bf16 with OpenVINO needs a CPU with bfloat16 kernels "
                              "(AVX-512 BF16 or AMX); this one has none: use fp32")
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
    try:
        compiled = core.compile_model(str(path), "CPU", config)  # reads the file whole: it may go afterwards
    except Exception as exc:
        raise atomic.damaged(path, f"OpenVINO cannot load it ({str(exc).splitlines()[0]})",
                             fix="delete it; the next run exports it again") from None
    request = compiled.create_infer_request()

    def run(pixels: np.ndarray) -> np.ndarray:
        return np.array(request.infer({0: pixels})[0], dtype=np.float32, copy=True)
    return run


def _import_onnxruntime():
    import onnxruntime

    return onnxruntime


def _import_openvino():
    import openvino

    return openvino


_IMPORTERS = {"onnx": _import_onnxruntime, "openvino": _import_openvino}
_ENGINES = {"onnx": _onnx_engine, "openvino": _openvino_engine}
