"""The member-major layout of K models trained as one stack.

The batched engine (:mod:`ann.batched`) concatenates K member models along the
channel dimension: member ``k``'s rows of a weight, bias or activation are rows
``k*C .. (k+1)*C - 1``.  This leaf module holds that layout, and the base class of an
activation position that carries one unit per member, so that code below the engine
(the unit diagnostics, :mod:`ann.diagnostics`) reads stacked models without importing
it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["member_view", "select_rows", "MemberUnits"]


def member_view(t: Tensor, members: int) -> Tensor:
    """``t`` viewed as ``(members, rows, ...)``: the member-major split of dimension 0."""
    return t.unflatten(0, (members, t.shape[0] // members))


def select_rows(t: Tensor, members: int, keep: Tensor) -> Tensor:
    """The members ``keep`` (index tensor) of a member-major tensor, as a new tensor."""
    return member_view(t, members).index_select(0, keep.to(t.device)).flatten(0, 1)


class MemberUnits(nn.Module):
    """A position of a stack that carries one unit per member: ``units`` holds each
    member's own module, in member order (a plain list, not submodules)."""

    units: list[nn.Module]

    def member_modules(self) -> list[nn.Module]:
        """The members' own modules, as they compute now (a stack whose units hold
        parameters copies its current ones into them first)."""
        return list(self.units)

    def reset_draws(self) -> None:
        """Restart the members' private generators from their seeds (as new modules)."""
        for unit in self.units:
            if hasattr(unit, "reset_draws"):
                unit.reset_draws()

    def generator_states(self) -> list[dict[str, Tensor]]:
        """Each member's generator states (empty for units that do not draw)."""
        return [u.generator_states() if hasattr(u, "generator_states") else {}
                for u in self.units]

    def load_generator_states(self, states: Sequence[dict[str, Tensor]]) -> None:
        """Restore :meth:`generator_states` of the same members."""
        if len(states) != len(self.units):
            raise ValueError(f"{len(states)} member generator states for {len(self.units)} "
                             f"members")
        for unit, state in zip(self.units, states, strict=True):
            if hasattr(unit, "load_generator_states"):
                unit.load_generator_states(state)
