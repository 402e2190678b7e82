"""Policy files: byte round trip, versions, and refusal of files that are not ours or not plain tensors."""

from __future__ import annotations

import io
import json
import os
import pickle

import pytest
import torch

from policies.errors import PolicyArgumentError
from policies.rl.checkpoint import PolicyBundle, bundle_version
from policies.rl.evidence import CAND_FEATURES, GLOBAL_FEATURES
from policies.rl.network import AcquisitionNet

CONFIG = {"trained_range": {"dims": [1, 6], "lengthscale": [0.01, 10], "noise": [0, 1]}, "horizon": 20}
MAGIC = b"LABRL1\n"


def _net(seed: int = 0, hidden: int = 8) -> AcquisitionNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AcquisitionNet(hidden=hidden, layers=1)


def _file(config: dict, weights: bytes) -> bytes:
    cfg = json.dumps(config).encode()
    return MAGIC + len(cfg).to_bytes(8, "big") + cfg + weights


@torch.no_grad()
def test_bytes_and_file_round_trip_keep_version_and_outputs(tmp_path) -> None:
    net = _net()
    bundle = PolicyBundle.from_net(net, CONFIG)
    assert bundle.config["net"] == {"hidden": 8, "layers": 1, "hedge": True} and bundle.config["horizon"] == 20
    again = PolicyBundle.from_bytes(bundle.to_bytes())
    assert again.version == bundle.version and len(bundle.version) == 16
    assert again.config == bundle.config and again.weights == bundle.weights
    path = tmp_path / "policy.labrl"
    bundle.save(path)
    loaded = PolicyBundle.load(path)
    assert loaded.version == bundle.version and not (tmp_path / "policy.labrl.tmp").exists()
    gen = torch.Generator().manual_seed(0)
    cand, glob = torch.randn(2, 12, len(CAND_FEATURES), generator=gen), torch.randn(2, len(GLOBAL_FEATURES), generator=gen)
    mask = torch.ones(2, 12, dtype=torch.bool)
    ref_logits, ref_value = net(cand, glob, mask)
    out_logits, out_value = loaded.net()(cand, glob, mask)
    assert torch.equal(out_logits, ref_logits) and torch.equal(out_value, ref_value)
    assert not loaded.net().training


def test_version_changes_with_weights_or_configuration_only() -> None:
    a = PolicyBundle.from_net(_net(0), CONFIG)
    assert PolicyBundle.from_net(_net(0), dict(reversed(list(CONFIG.items())))).version == a.version  # key order
    assert PolicyBundle.from_net(_net(1), CONFIG).version != a.version
    assert PolicyBundle.from_net(_net(0), {**CONFIG, "horizon": 21}).version != a.version
    assert a.version == bundle_version(a.weights, a.config)
    # the length prefix keeps the parts apart: moving bytes between config and weights changes the version
    assert bundle_version(b"xy", {}) != bundle_version(b"y", {}) and a.version.isalnum()


@pytest.mark.parametrize("data", [b"", b"hello world", b"LABRL1\n", MAGIC + (5).to_bytes(8, "big") + b"{not json",
                                  b"PK\x03\x04" + b"\x00" * 64])
def test_from_bytes_refuses_garbage(data: bytes) -> None:
    with pytest.raises(PolicyArgumentError):
        PolicyBundle.from_bytes(data)


def test_load_of_a_missing_file_is_a_policy_argument_error(tmp_path) -> None:
    with pytest.raises(PolicyArgumentError, match="cannot read"):
        PolicyBundle.load(tmp_path / "nope.labrl")


class _Sneaky:
    """Unpickling this runs code: a policy file must never do that."""

    def __reduce__(self):
        return (exec, ("import os; os.environ['LAB_TEST_RL_PICKLE_RAN'] = '1'",))


def test_pickled_objects_in_the_weights_are_refused_without_running_them(monkeypatch) -> None:
    monkeypatch.delenv("LAB_TEST_RL_PICKLE_RAN", raising=False)
    buf = io.BytesIO()
    torch.save({"payload": _Sneaky()}, buf, pickle_protocol=2)  # a torch.save file, but not of tensors
    for weights in (pickle.dumps(_Sneaky(), protocol=2), buf.getvalue()):
        bundle = PolicyBundle.from_bytes(_file({"net": {"hidden": 8, "layers": 1}}, weights))
        with pytest.raises(PolicyArgumentError, match="do not load"):
            bundle.net()
    assert "LAB_TEST_RL_PICKLE_RAN" not in os.environ


def test_weights_of_another_architecture_are_refused() -> None:
    wide = PolicyBundle.from_net(_net(hidden=16), CONFIG)
    mislabelled = PolicyBundle(wide.weights, {**wide.config, "net": {"hidden": 8, "layers": 1}})
    with pytest.raises(PolicyArgumentError, match="do not load"):
        mislabelled.net()
    assert PolicyBundle.from_bytes(wide.to_bytes()).net().config.hidden == 16


@pytest.mark.parametrize("config", [b"[1, 2]", b'{"net": null}', b'{"net": {"hidden": "wide"}}'])
def test_malformed_configuration_is_a_policy_argument_error(config: bytes) -> None:
    weights = PolicyBundle.from_net(_net(), CONFIG).weights
    with pytest.raises(PolicyArgumentError):
        PolicyBundle.from_bytes(MAGIC + len(config).to_bytes(8, "big") + config + weights).net()
