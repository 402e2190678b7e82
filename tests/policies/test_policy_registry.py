"""The registry, the error tree and the protocol helpers."""

from __future__ import annotations

import pytest

from lab.experiment import Proposal
from lab.state import CampaignState, Objective, PendingExperiment
from policies import (
    Policy,
    PolicyArgumentError,
    PolicyError,
    UnknownPolicy,
    known_policies,
    make_policy,
    policy_options,
)
from policies.errors import ProposalError
from policies.protocol import batch_size, check_proposals, derive_seed


def test_known_policies_build_and_satisfy_the_protocol() -> None:
    assert known_policies() == ("gp-iso-lcb", "qlognehvi", "qlognei", "random", "rf-ei", "rl", "sobol")
    for name in known_policies():
        if name == "rl":  # needs trained weights: tests/policies/rl/test_policy.py builds it from a file
            continue
        policy = make_policy(name)
        assert isinstance(policy, Policy)
        assert policy.name == name
        assert policy.version == ("2" if name == "gp-iso-lcb" else "1")  # gp-iso-lcb 2: MLE fit
    assert make_policy(" QLogNEI ").name == "qlognei"


def test_unknown_policy_names_the_known_ones() -> None:
    with pytest.raises(UnknownPolicy) as info:
        make_policy("ucb")
    assert isinstance(info.value, KeyError) and isinstance(info.value, PolicyError)
    assert str(info.value) == "unknown policy 'ucb'; known policies: gp-iso-lcb, qlognehvi, qlognei, random, rf-ei, rl, sobol"


def test_unknown_and_invalid_options_are_clear_errors() -> None:
    with pytest.raises(PolicyArgumentError, match=r"no option\(s\) \['pool'\]; its options are \['failed', 'kernel', "):
        make_policy("qlognei", pool=10)
    with pytest.raises(PolicyArgumentError, match="it takes no options"):
        make_policy("random", seed=3)
    with pytest.raises(PolicyArgumentError, match="pool_size must be an integer >= 1"):
        make_policy("qlognei", pool_size=0)
    with pytest.raises(PolicyArgumentError, match="kernel must be one of"):
        make_policy("qlognei", kernel="linear")
    with pytest.raises(ValueError):  # PolicyArgumentError is a ValueError
        make_policy("qlognei", failed="ignore")


def test_options_and_version() -> None:
    assert policy_options("qlognei") == {"n_init": 3, "pool_size": 1024, "mc_samples": 128, "kernel": "matern52",
                                         "failed": "worst"}
    assert policy_options("sobol") == {}
    assert make_policy("qlognei", pool_size=512, kernel="rbf").version == "1+kernel=rbf,pool_size=512"
    assert make_policy("qlognei", pool_size=1024).version == "1"


def test_batch_size_honours_budget_and_rejects_bad_n(space) -> None:
    state = CampaignState(space, (Objective("y"),), budget_remaining=2)
    assert batch_size(state, 5) == 2
    assert batch_size(CampaignState(space, (Objective("y"),)), 5) == 5
    assert batch_size(CampaignState(space, (Objective("y"),), budget_remaining=0), 5) == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(PolicyArgumentError):
            batch_size(state, bad)


def test_derive_seed_is_stable_and_separates_streams() -> None:
    assert derive_seed(1, 2, "random") == derive_seed(1, 2, "random")
    seeds = {derive_seed(s, d, salt) for s in range(3) for d in (None, 0, 1) for salt in ("a", "b")}
    assert len(seeds) == 18
    assert derive_seed(0, 0) == 1_000_003 * 0 + 2_654_435_761  # documented formula, not hash()


def test_check_proposals_catches_contract_breaches(space) -> None:
    p = {"temperature_c": 900.0, "dwell_h": 2, "atmosphere": "air", "cations": {"Ba": 0.5, "Sr": 0.1, "Ti": 0.4}}
    ok = Proposal(p, "x", "1")
    state = CampaignState(space, (Objective("y"),))
    check_proposals(state, 1, [ok])
    with pytest.raises(ProposalError, match="repeats"):
        check_proposals(state, 2, [ok, ok])
    with pytest.raises(ProposalError, match="repeats"):
        check_proposals(CampaignState(space, (Objective("y"),), pending=(PendingExperiment(p),)), 1, [ok])
    with pytest.raises(ProposalError, match="invalid"):
        check_proposals(state, 1, [Proposal({**p, "dwell_h": 99}, "x", "1")])
    with pytest.raises(ProposalError, match="budget_remaining=0"):
        check_proposals(CampaignState(space, (Objective("y"),), budget_remaining=0), 1, [ok])
