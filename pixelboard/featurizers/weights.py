"""Find real pretrained weights for a timm backbone, or stop and say how to provide them.

Order: an explicit ``--weights PATH`` (state_dict or safetensors) wins; then weights bundled in an
installed package (EfficientNet-Lite0); then timm's own hub cache or download. Random weights only
when the caller asks for them explicitly: a silently random backbone would produce useless
embeddings that still look like numbers.
"""

from __future__ import annotations

import hashlib
import pickle
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import timm
import torch

from pixelboard.errors import PixelboardError

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class WeightsInfo:
    source: str  # "file", "bundled", "hub" or "random"
    identity: str  # content hash or hub id: part of the featurizer fingerprint
    location: str  # path or hub id, for humans


def load_backbone(timm_name: str, *, weights: str | None = None, random_weights: bool = False,
                  bundled: Callable[[], Path] | None = None,
                  convert: Callable[[dict, torch.nn.Module], dict] | None = None) -> tuple[torch.nn.Module, WeightsInfo]:
    """Create ``timm_name`` in eval mode with real weights; see the module docstring for the order."""
    if weights and random_weights:
        raise PixelboardError("--weights and --random-weights exclude each other")
    if random_weights:
        # Seeded, so that "random" names one fixed set of weights: the cache key stays truthful.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = timm.create_model(timm_name, pretrained=False)
        return model.eval(), WeightsInfo("random", "random-seed0", "random init (seed 0)")
    if weights:
        path = Path(weights).expanduser()
        model = timm.create_model(timm_name, pretrained=False)
        load_state_dict_file(model, path, convert)
        return model.eval(), WeightsInfo("file", file_sha256(path), str(path))
    if bundled is not None:
        path = bundled()
        model = timm.create_model(timm_name, pretrained=False)
        load_state_dict_file(model, path, convert)
        return model.eval(), WeightsInfo("bundled", file_sha256(path), str(path))
    return _load_from_hub(timm_name)


def load_state_dict_file(model: torch.nn.Module, path: Path,
                         convert: Callable[[dict, torch.nn.Module], dict] | None = None) -> None:
    """Load a ``.safetensors`` or torch state_dict file strictly (a classifier of another size is dropped)."""
    if not path.is_file():
        raise PixelboardError(f"weights file not found: {path}")
    kind = _weights_format(path)
    if kind is None:
        raise PixelboardError(f"weights file {path} is not a torch state_dict (.pth/.pt/.bin) or .safetensors "
                              "file; pass the file saved with torch.save(model.state_dict(), ...) or a .safetensors")
    try:
        if kind == "safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            # weights_only: a state_dict is tensors in dicts; anything else could run code on load.
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise PixelboardError(f"weights file {path} holds pickled Python objects, not a plain state_dict: save "
                              "it with torch.save(model.state_dict(), ...) or as .safetensors") from None
    except Exception as exc:  # torch and safetensors raise many types for damaged files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PixelboardError(f"cannot read weights file {path} ({kind} format): {reason[:200]}") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise PixelboardError(f"weights file {path} does not hold a state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if convert is not None:
        state = convert(state, model)
    own = model.state_dict()
    # Embeddings never use the classifier: a fine-tuned head with another class count is fine.
    for key in [k for k in state if k in own and state[k].shape != own[k].shape and _is_classifier(model, k)]:
        del state[key]
    missing, unexpected = (sorted(set(own) - set(state)), sorted(set(state) - set(own)))
    missing = [k for k in missing if not _is_classifier(model, k)]
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        detail = "; ".join(f"{what} {len(keys)} (e.g. {keys[0]})" for what, keys in
                           (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)) if keys)
        raise PixelboardError(f"weights file {path} does not fit {model.default_cfg.get('architecture')}: {detail}")
    model.load_state_dict(state, strict=False)


def _weights_format(path: Path) -> str | None:
    """``"safetensors"``, ``"torch"`` (zip or legacy pickle) or None, from the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    size = path.stat().st_size
    if len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"  # an 8-byte little-endian header length, then the JSON header
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return "torch"  # torch.save's zip archive, or the legacy pickle format
    return None


def _is_classifier(model: torch.nn.Module, key: str) -> bool:
    head = model.default_cfg.get("classifier", "classifier")
    return key.startswith(head + ".")


def _load_from_hub(timm_name: str) -> tuple[torch.nn.Module, WeightsInfo]:
    """Use timm's hub cache when it has the file; download only when the hub answers quickly."""
    cfg = timm.models.get_pretrained_cfg(timm_name)
    hub_id = cfg.hf_hub_id if cfg and cfg.hf_hub_id else f"timm/{timm_name}"
    cached = _hub_cached_file(hub_id)
    try:
        if cached is not None:
            model = timm.create_model(timm_name, pretrained=True, pretrained_cfg_overlay={"file": str(cached)})
            return model.eval(), WeightsInfo("hub", hub_id, str(cached))
        if not _host_reachable(HUB_HOST):
            raise OSError(f"{HUB_HOST} is unreachable")
        model = timm.create_model(timm_name, pretrained=True)
        return model.eval(), WeightsInfo("hub", hub_id, hub_id)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PixelboardError(
            f"no pretrained weights for {timm_name}: {reason} and {hub_id} is not in the local hub cache. "
            f"Pass --weights PATH (a state_dict or .safetensors file for timm's {timm_name}), run once with "
            f"network access to fill the cache, or use --backbone efficientnet_lite0 (weights bundled)") from None


def _hub_cached_file(hub_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def _host_reachable(host: str, timeout: float = 3.0) -> bool:
    """Connect within ``timeout`` seconds, DNS lookup included (the socket timeout alone does not bound it)."""
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="pixelboard-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
