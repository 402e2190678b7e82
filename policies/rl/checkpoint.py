"""Trained policies as bytes: weights plus the JSON configuration that rebuilds them.

Weights are a ``torch.save`` of the network's ``state_dict`` (tensors only) and are read back
with ``torch.load(..., weights_only=True)``, which refuses arbitrary pickled objects: a policy file
from elsewhere cannot run code. A bundle's identity is the sha256 of its weights and canonical
configuration; its first 16 hex digits are the policy version written on every decision.

Example:
    >>> net = AcquisitionNet(hidden=8, layers=1)
    >>> bundle = PolicyBundle.from_net(net, {"trained_range": {"dims": [2, 6]}})
    >>> again = PolicyBundle.from_bytes(bundle.to_bytes())
    >>> again.version == bundle.version and len(bundle.version)
    16
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from policies.errors import PolicyArgumentError
from policies.rl.network import AcquisitionNet, NetConfig

__all__ = ["PolicyBundle", "bundle_version"]

_MAGIC = b"LABRL1\n"


def _canonical(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def bundle_version(weights: bytes, config: dict[str, Any]) -> str:
    """The version of a policy: first 16 hex digits of sha256(config JSON, weights)."""
    digest = hashlib.sha256()
    for part in (_canonical(config), weights):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class PolicyBundle:
    """A trained acquisition network.

    Attributes:
        weights: ``torch.save`` bytes of the ``state_dict``.
        config: JSON-able: ``net`` (architecture), ``trained_range`` (what training covered, for
            the guardrail), ``horizon``, ``max_delay`` and the training configuration.
    """

    weights: bytes
    config: dict[str, Any]

    @property
    def version(self) -> str:
        return bundle_version(self.weights, self.config)

    @classmethod
    def from_net(cls, net: AcquisitionNet, config: dict[str, Any]) -> PolicyBundle:
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buf)
        return cls(buf.getvalue(), {**json.loads(_canonical(config)), "net": net.config.to_dict()})

    def net(self, device: str | torch.device = "cpu") -> AcquisitionNet:
        """The network with these weights, in eval mode.

        Raises:
            PolicyArgumentError: the weights do not load (not tensors, or another architecture).
        """
        arch = self.config.get("net", {})
        if not isinstance(arch, dict) or not all(isinstance(arch.get(k, 1), int) and not isinstance(arch.get(k, 1), bool)
                                                 and arch.get(k, 1) > 0 for k in ("hidden", "layers")):
            raise PolicyArgumentError(f"RL policy configuration 'net' must be a table of positive integers "
                                      f"hidden and layers, got {arch!r}")
        cfg = NetConfig.from_dict(arch)
        net = AcquisitionNet(cfg.hidden, cfg.layers, cfg.hedge)
        try:
            state = torch.load(io.BytesIO(self.weights), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:
            raise PolicyArgumentError(f"RL policy weights do not load into {cfg}: {type(exc).__name__}: {exc}") from exc
        return net.to(device).eval()

    def to_bytes(self) -> bytes:
        """One file: magic line, config JSON length and JSON, then the weights."""
        cfg = _canonical(self.config)
        return _MAGIC + len(cfg).to_bytes(8, "big") + cfg + self.weights

    @classmethod
    def from_bytes(cls, data: bytes) -> PolicyBundle:
        """Parse :meth:`to_bytes` output.

        Raises:
            PolicyArgumentError: not a policy file written by this code.
        """
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
            raise PolicyArgumentError("not an RL policy file (expected one written by `lab train`)")
        n = int.from_bytes(data[len(_MAGIC): len(_MAGIC) + 8], "big")
        start = len(_MAGIC) + 8
        try:
            config = json.loads(data[start: start + n])
        except ValueError as exc:
            raise PolicyArgumentError(f"RL policy file has a corrupt configuration: {exc}") from exc
        if not isinstance(config, dict):
            raise PolicyArgumentError(f"RL policy file configuration must be a JSON object, got {type(config).__name__}")
        return cls(bytes(data[start + n:]), config)

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed over ``path``)."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> PolicyBundle:
        try:
            return cls.from_bytes(Path(path).read_bytes())
        except OSError as exc:
            raise PolicyArgumentError(f"cannot read RL policy file {path}: {exc}") from exc
