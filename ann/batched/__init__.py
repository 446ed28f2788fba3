"""Batched sweep engine: train K models of one architecture at once, as one computation.

Modules, one job each: :mod:`~ann.batched.layers` (stacked layers),
:mod:`~ann.batched.units` (stacked units with parameters or draws),
:mod:`~ann.batched.stacking` (stacking models), :mod:`~ann.batched.memory` (how many
members a stack holds), :mod:`~ann.batched.engine` (training stacks),
:mod:`~ann.batched.graph` (a stack's step replayed from a CUDA graph).

:func:`train_batched` reproduces :func:`ann.train.train_one` (the reference "loop"
trainer, whose module docstring is the contract) for many runs at once.  The K
members of a batch are *stacked*: every parameter of the architecture becomes one
tensor holding all K members' copies, member-major along dimension 0, and

- each ``nn.Conv2d`` becomes one grouped convolution (``groups = K x groups``): the
  members' images travel as channel blocks of one input ``(B, K*C, H, W)``, member
  ``k`` in channels ``k*C .. (k+1)*C - 1``, so member ``k`` only ever sees its own
  batch and its own filters;
- each ``nn.Linear`` becomes one batched matrix product (``torch.baddbmm``);
- each slope-table activation (``nn.ReLU`` or a :class:`~ann.activations.PiecewiseLinearUnit`
  without parameters: NegLU, MixLU, leaky, bipolar) becomes one call of
  :func:`~ann.activations.piecewise_linear` over the ``K*C`` stacked units, with the
  members' own slope tables (every member's mask *and* backward mode: exact,
  reference or inverted);
- each unit with learned parameters or draws (PReLU, ConvAct, Min-Maxout, Noisy ReLU,
  seeded dropout) becomes a :class:`~ann.batched.units.StackedUnits`: one module over
  all members' units with their parameters stacked, or each member's own module on its
  own channel block, drawing from its own generator;
- pools, padding and other channel-wise code in the model's ``forward`` run
  unchanged on the stacked tensor (the model's own ``forward`` is reused).

The summed loss ``sum_k mean_b CE_k`` gives every member exactly its own gradient,
and SGD with momentum and weight decay is element-wise, so one
``torch.optim.SGD`` over the stacked tensors is K independent optimisers.  Every
member keeps its own initialisation and mask (``build_model(spec)`` is called per
run and the parameters copied in), its own data order (its own CPU generator seeded
with ``spec.seed``, drawing the same permutations and flips as the loop trainer),
its own momentum, errors and loss.

Differences from the loop trainer are float rounding only (grouped vs single
convolutions sum in another order).  A member whose loss turns non-finite is
recorded ``"diverged"`` exactly as :func:`~ann.train.train_one` records it (its
completed epochs kept, errors :data:`~ann.train.CHANCE_ERROR`); its NaNs stay in its
own slices (no operation mixes members), it is detected from an on-device flag at the
end of the epoch and dropped from the stack, and the others continue undisturbed.

Device path: the dataset stays on the device, each epoch's permutations and flips
are sent once, and errors, losses and divergence flags accumulate on the device, so
there is no host synchronisation inside an epoch (:meth:`StackedRun.run_epoch`); with
``cuda_graph=True`` a stack with fixed masks and no observer replays its whole training
step from a CUDA graph (:class:`~ann.batched.graph.StepGraph`; off by default until it
has been measured on a GPU).

Resampled MixLU masks (``mask="resample"``) are stacked too: each member keeps a copy
of its MixLU whose seeded generator draws the member's per-element mask on every pass,
in the loop trainer's order (test passes in its chunks of 1000), so the masks are the
loop's masks.

Specs whose model cannot be stacked (a kind registered as not stackable, a resampling
MixLU or a unit that draws without a seed, layers other than
``Conv2d``/``Linear``/activations/units/stateless pools, or a stacked model that
fails the built-in forward/gradient check against its members) are trained by
:func:`ann.train.train_one` instead, with a warning that says so.

K is split into chunks that fit memory (:func:`plan_chunks`): an estimate of bytes
per member against a budget (the process's memory budget on CPU, by default half the
available RAM, ``NEGLU_STDP_MEMORY_BUDGET`` to set it; 80 % of free GPU memory on CUDA)
and a cap ``max_members`` (on CPU by default :data:`CPU_STACK_BYTES`, since small
stacks keep their activations in cache, and one member alone from
:data:`CPU_SOLO_BYTES` a member, LeNet5).  The stacks are planned from the specs (one
model built per distinct model and activation, then dropped), and each stack's models
are built when it trains; a sweep whose single member does not fit the budget is
refused in one line (:class:`~common.data.budget.MemoryBudgetError`).
"""

from common.lazy import lazy_exports

#: Public names -> the module that defines them, imported on first use (PEP 562):
#: ``import ann.batched.layers`` loads no trainer, and ``train_batched`` (which plans
#: stacks and loop runs alike) lives in :mod:`ann.sweep_plan`, above this package.
_EXPORTS = {
    "CPU_SOLO_BYTES": "ann.batched.memory",
    "CPU_STACK_BYTES": "ann.batched.memory",
    "member_bytes": "ann.batched.memory",
    "memory_budget_bytes": "ann.batched.memory",
    "plan_chunks": "ann.batched.memory",
    "UnsupportedModel": "ann.batched.layers",
    "StackedActivation": "ann.batched.layers",
    "StackedUnits": "ann.batched.units",
    "StackedConv2d": "ann.batched.layers",
    "StackedLinear": "ann.batched.layers",
    "stack_models": "ann.batched.stacking",
    "model_signature": "ann.batched.stacking",
    "verify_stacked": "ann.batched.stacking",
    "StackedRun": "ann.batched.engine",
    "WorkUnit": "ann.sweep_plan",
    "plan_units": "ann.sweep_plan",
    "run_unit": "ann.sweep_plan",
    "train_batched": "ann.sweep_plan",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = list(_EXPORTS)
