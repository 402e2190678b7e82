"""The trained policy that ships with the package, so ``policy = { name = "rl" }`` works on a fresh clone.

Files beside this module:

* ``policy.lab``: the policy file (weights and configuration; see :mod:`policies.rl.checkpoint`).
* ``train.toml``: the training configuration that produced it (``lab train --config`` retrains it).
* ``curve.jsonl`` and ``teachers.json``: its held-out learning curve and the teachers' scores.
* ``SHA256``: the sha256 of ``policy.lab``; :func:`shipped_bundle` refuses a file that does not match.

Example:
    >>> from policies.rl.evidence import FEATURE_SET
    >>> shipped_bundle().config["features"] == FEATURE_SET
    True
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from policies.errors import PolicyArgumentError
from policies.rl.checkpoint import PolicyBundle

__all__ = ["SHIPPED_DIR", "shipped_bundle"]

SHIPPED_DIR = Path(__file__).resolve().parent


def shipped_bundle() -> PolicyBundle:
    """The shipped policy.

    Raises:
        PolicyArgumentError: the file is missing or does not match its recorded sha256.
    """
    path, digest = SHIPPED_DIR / "policy.lab", SHIPPED_DIR / "SHA256"
    try:
        data = path.read_bytes()
        expected = digest.read_text().split()[0]
    except (OSError, IndexError) as exc:
        raise PolicyArgumentError(f"the shipped RL policy is missing ({exc}); reinstall the package, or pass "
                                  "checkpoint=<file from `lab train`>") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise PolicyArgumentError(f"the shipped RL policy {path} has sha256 {actual[:16]}..., not the recorded "
                                  f"{expected[:16]}...; reinstall the package")
    return PolicyBundle.from_bytes(data)
