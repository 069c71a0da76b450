"""Hugging Face hub access with one-line errors.

A model id or dataset that cannot be loaded says why: not on the hub, gated, or the hub unreachable
with nothing in the local cache. Without this, an offline machine shows an httpx traceback from deep
inside optimum, or the last line of huggingface_hub's retry loop ("the client has been closed"). A
cached model id is used from its snapshot directory while the hub is out of reach.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: how long the reachability probe waits; it runs only for a cached model id or after a load failed
PROBE_TIMEOUT_S = 5.0


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def hub_unreachable() -> str | None:
    """Why the hub cannot be reached right now, or None when it answers."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:  # the standard library, so the probe is the same whichever HTTP client huggingface_hub uses
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=PROBE_TIMEOUT_S)
    except urllib.error.HTTPError:
        return None  # it answered, if only with an error status
    except OSError as err:  # URLError, timeouts, refused connections
        reason = _first_line(getattr(err, "reason", err))
        return f"the Hugging Face hub ({constants.ENDPOINT}) is unreachable: {reason}"
    return None


def hub_failure(what: str, err: BaseException, fix: str) -> ValueError:
    """The error for a failed hub load: the reason the hub is out of reach if it is, else the load's own."""
    why = hub_unreachable()
    if why:
        return ValueError(f"{what} is not in the local cache and {why}; {fix}")
    return ValueError(f"{what}: {_first_line(err)}")


#: files that hold a model's weights in a snapshot (PyTorch, or an OpenVINO export)
WEIGHT_GLOBS = ("*.safetensors", "*.bin", "openvino*.xml")


def require_hub_model(model_id: str) -> str | Path:
    """The model id if the hub answers (its config.json fetched, so that an id which cannot load fails
    before a run starts any stage), or, when the hub is out of reach, the cached snapshot directory:
    downstream loaders then read a local directory and never ask the hub."""
    import huggingface_hub as hub
    from huggingface_hub import errors

    if isinstance(hub.try_to_load_from_cache(model_id, "config.json"), str):
        why = hub_unreachable()
        if not why:
            return model_id
        snapshot = Path(hub.snapshot_download(model_id, local_files_only=True))
        if not any(next(snapshot.glob(g), None) for g in WEIGHT_GLOBS):
            raise ValueError(f"model {model_id!r} is only partly in the local cache (no weights in {snapshot}) "
                             f"and {why}; pass a local model directory instead")
        log.info(f"{why}: using the cached snapshot of {model_id} ({snapshot})")
        return snapshot
    try:
        hub.hf_hub_download(model_id, "config.json")
    except errors.GatedRepoError:
        raise ValueError(f"model {model_id!r} is gated on the Hugging Face hub: accept its terms on the model "
                         "page and log in with `hf auth login`") from None
    except errors.RepositoryNotFoundError:
        raise ValueError(f"model {model_id!r} is not on the Hugging Face hub (for a private model, log in "
                         "with `hf auth login`)") from None
    except getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError):  # the 0.x name
        raise ValueError(f"model {model_id!r} on the Hugging Face hub has no config.json: it is not a "
                         "transformers model") from None
    except Exception as err:  # noqa: BLE001 - connection failures: requests/httpx errors, OSError, RuntimeError
        raise hub_failure(f"model {model_id!r}", err, "pass a local model directory instead") from None
    return model_id


def config_file(model: str | Path) -> Path | None:
    """config.json of a model directory, or of a hub id from the local cache (None if it is not there)."""
    if isinstance(model, Path):
        return model / "config.json"
    import huggingface_hub as hub

    cached = hub.try_to_load_from_cache(model, "config.json")
    return Path(cached) if isinstance(cached, str) else None


def load_hub_dataset(source: str, config: str | None, split: str, fix: str) -> Any:
    """``datasets.load_dataset`` with a one-line error; ``fix`` names what the caller accepts instead."""
    import datasets

    try:
        return datasets.load_dataset(source, config, split=split)
    except ValueError:
        raise  # a bad split or config name: datasets already names it and what exists
    except Exception as err:  # noqa: BLE001 - the hub's failures have no common base class
        raise hub_failure(f"dataset {source!r}", err, fix) from None
