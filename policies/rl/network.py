"""The acquisition network (a MetaBO-style neural acquisition function) and its value head.

Each candidate's score is an MLP of its own features and the campaign's global features
(:mod:`policies.rl.evidence`: two surrogates' evidence, scale-free), so the network works for any
number of candidates and any dimension. The **hedge head** adds ``sum_j w_j(campaign) * gap_j``:
each classic acquisition's gap to its own best candidate, weighted by a non-negative function of
the campaign-level evidence (the surrogates' held-out fits, ...). Following one teacher is then a
single large weight, and mixing them a portfolio (GP-Hedge, with weights learned per campaign). The value head reads the global features and mean- and max-pooled candidate
embeddings. Picks are drawn from ``softmax(logits)`` over the allowed candidates, without
replacement; the log-probability of a batch is the sum of each pick's log-probability given the
earlier picks.

Example:
    >>> import torch
    >>> net = AcquisitionNet(hidden=16)
    >>> cand, glob = torch.randn(3, 10, len(CAND_FEATURES)), torch.randn(3, len(GLOBAL_FEATURES))
    >>> mask = torch.ones(3, 10, dtype=torch.bool)
    >>> logits, value = net(cand, glob, mask)
    >>> tuple(logits.shape), tuple(value.shape)
    ((3, 10), (3,))
    >>> picks, logp = sample_without_replacement(logits, mask, 2, torch.Generator().manual_seed(0))
    >>> tuple(picks.shape), bool((picks[:, 0] != picks[:, 1]).all())
    ((3, 2), True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from policies.rl.evidence import CAND_FEATURES, GLOBAL_FEATURES, HEDGE_FEATURES

__all__ = ["AcquisitionNet", "NetConfig", "log_prob_of", "sample_without_replacement"]

_NEG = -1e9


@dataclass(frozen=True)
class NetConfig:
    """Architecture. hidden: width of every layer; layers: hidden layers per MLP; hedge: add the
    hedge head (a context-dependent portfolio of the acquisitions' gaps)."""

    hidden: int = 64
    layers: int = 2
    hedge: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        # a configuration written before the hedge head existed had none
        return cls(int(data.get("hidden", 64)), int(data.get("layers", 2)), bool(data.get("hedge", False)))


def _mlp(n_in: int, hidden: int, layers: int, n_out: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    mods.append(nn.Linear(width, n_out))
    return nn.Sequential(*mods)


class AcquisitionNet(nn.Module):
    """Scores candidates (policy logits) and values a campaign state (PPO critic).

    Args:
        hidden: layer width; layers: hidden layers per MLP.
    """

    def __init__(self, hidden: int = 64, layers: int = 2, hedge: bool = True) -> None:
        super().__init__()
        self.config = NetConfig(hidden, layers, hedge)
        nc, ng = len(CAND_FEATURES), len(GLOBAL_FEATURES)
        self.embed = _mlp(nc + ng, hidden, layers, hidden)
        self.score = nn.Linear(hidden, 1)
        self.value = _mlp(ng + 2 * hidden, hidden, layers, 1)
        self._hedge_idx = [CAND_FEATURES.index(f) for f in HEDGE_FEATURES]
        # the hedge head: from the campaign's evidence, a weight >= 0 per acquisition gap
        self.gate = _mlp(ng, hidden, 1, len(HEDGE_FEATURES)) if hedge else None

    def forward(self, cand: Tensor, glob: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``(B, K)`` (``-1e9`` where ``mask`` is False) and values ``(B,)``.

        Args:
            cand: candidate features ``(B, K, F)``; glob: global features ``(B, G)`` (see
                :mod:`policies.rl.evidence`);
            mask: allowed candidates ``(B, K)`` bool (at least one per row).
        """
        x = torch.cat([cand, glob.unsqueeze(1).expand(-1, cand.shape[1], -1)], -1)
        h = torch.nn.functional.silu(self.embed(x))
        logits = self.score(h).squeeze(-1)
        if self.gate is not None:
            weights = torch.nn.functional.softplus(self.gate(glob))  # (B, J)
            logits = logits + (cand[..., self._hedge_idx] * weights.unsqueeze(1)).sum(-1)
        logits = logits.masked_fill(~mask, _NEG)
        m = mask.unsqueeze(-1).to(h.dtype)
        mean = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        peak = h.masked_fill(~mask.unsqueeze(-1), _NEG).amax(1)
        value = self.value(torch.cat([glob, mean, peak], -1)).squeeze(-1)
        return logits, value


def sample_without_replacement(logits: Tensor, mask: Tensor, q: int, generator: torch.Generator | None = None,
                               greedy: bool = False) -> tuple[Tensor, Tensor]:
    """Draw ``q`` distinct candidates per row from ``softmax(logits)`` over ``mask``.

    Args:
        logits: ``(B, K)``; mask: ``(B, K)`` bool with at least ``q`` True per row.
        q: picks per row; generator: randomness (CPU generator; sampling happens on the CPU).
        greedy: take the ``q`` highest logits instead of sampling (log-probabilities still reported).

    Returns:
        ``(picks, log_prob)``: indices ``(B, q)`` and the joint log-probability ``(B,)``.
    """
    lg = logits.detach().float().cpu().masked_fill(~mask.cpu(), float("-inf"))
    picks = torch.empty(lg.shape[0], q, dtype=torch.long)
    total = torch.zeros(lg.shape[0])
    for j in range(q):
        logp = torch.log_softmax(lg, -1)
        if greedy:
            idx = logp.argmax(-1)
        else:
            idx = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        picks[:, j] = idx
        total += logp.gather(-1, idx[:, None]).squeeze(-1)
        lg = lg.scatter(-1, idx[:, None], float("-inf"))
    return picks.to(logits.device), total.to(logits.device)


def log_prob_of(logits: Tensor, mask: Tensor, picks: Tensor) -> Tensor:
    """Joint log-probability ``(B,)`` of ordered picks ``(B, q)`` drawn without replacement (differentiable)."""
    lg = logits.masked_fill(~mask, float("-inf"))
    total = torch.zeros(lg.shape[0], dtype=lg.dtype, device=lg.device)
    for j in range(picks.shape[1]):
        logp = torch.log_softmax(lg, -1)
        total = total + logp.gather(-1, picks[:, j:j + 1]).squeeze(-1)
        lg = lg.scatter(-1, picks[:, j:j + 1], float("-inf"))
    return total
