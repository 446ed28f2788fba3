"""What one run of a sweep is: a model, an activation spec and a seed.

An :class:`ActivationSpec` is a small frozen value, a kind plus its parameters, e.g.
``ActivationSpec.make("mixlu", percent=5, backward="reference", mask="resample")``.
It has a stable :attr:`~ActivationSpec.key` (file names, JSON) and a text form for the
command line (:func:`parse_activations`)::

    KIND[:VALUE[:VALUE...]]        positional, in the kind's parameter order
    KIND[:NAME=VALUE...]           by name (both may be mixed, names last)

    relu
    mixlu:5                        5 % NegLUs, backward reference, fixed mask
    mixlu:5:exact:resample
    mixlu:percent=5:mask=resample
    leaky:0.05  prelu  bipolar  noisy:1:nair-hinton
    minmaxout  minmaxout:50:2      Maxout (k = 2); half of the units Min units
    convact  convact:3             learned slopes per unit; from a 3x3 convolution
    relu:dropout=0.5               any kind, with dropout after the hidden activation

``dropout=P`` is accepted by every kind: dropout of rate ``P`` after the model's
fully connected hidden activation (:func:`ann.models.build_model`).

Adding a kind is one :func:`register` call: its parameters, how to build its module
for a position of ``num_units`` units, its canonical form (a spec that trains the same
network as another, e.g. ``mixlu:0`` is ``relu``, is trained once) and whether the
batched engine can stack it (every registered kind can: :mod:`ann.batched.layers` and
:mod:`ann.batched.units`; a kind registered with ``stackable=False`` is trained by the
loop trainer after a one-line note).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ann.activations import BACKWARDS, MASK_MODES, MixLU
from ann.baselines import NOISE_VARIANCES, BipolarReLU, LeakyReLU, NoisyReLU, PReLU
from ann.convact import ConvAct
from ann.minmaxout import MinMaxout
from common.checks import decimal, is_integer
from common.lazy import resolve

__all__ = [
    "Param",
    "ActivationKind",
    "KINDS",
    "register",
    "ActivationSpec",
    "RunSpec",
    "is_plain_relu",
    "MODELS",
    "model_class",
    "parse_activation",
    "parse_activations",
    "activations_help",
    "mixlu_grid",
    "key_float",
]

_REQUIRED = object()


def _float_in(lo: float, hi: float, unit: str = "") -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"must be a number in [{lo:g}, {hi:g}]{unit}, got {value!r}")
        try:
            v = decimal(value) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number in [{lo:g}, {hi:g}]{unit}, got {value!r}") \
                from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"must be a number in [{lo:g}, {hi:g}]{unit}, got {value!r}")
        return key_float(v)
    return check


def key_float(value: float) -> float:
    """``value`` at the precision of keys (15 significant digits, -0.0 as 0.0), so that
    two values with one key are one value (``1.0000000000000002`` is ``1``)."""
    return float(f"{float(value):.15g}") + 0.0


def _one_of(choices: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)
    return check


@dataclass(frozen=True)
class Param:
    """One parameter of an activation kind.

    Args:
        name: keyword in specs and JSON.
        check: validates and normalises a value (text from the command line included);
            raises ``ValueError`` with the reason.
        default: the value when not given (required when omitted).
        doc: one phrase for ``--help``.
    """

    name: str
    check: Callable[[Any], Any]
    default: Any = _REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class ActivationKind:
    """A registered kind of activation.

    Args:
        name: the kind's name (first word of its text form and key).
        params: its parameters, in positional order.
        build: ``(spec, num_units, mask_seed) -> nn.Module`` for one activation position
            with ``num_units`` units (channels); ``mask_seed`` seeds any random draw
            of the position (:func:`ann.models.mask_seed`).
        doc: one line for ``--help``.
        canonical: ``spec -> spec`` mapping a spec to the one that trains the same
            network (identical runs are trained once); ``None``: the spec itself.
        stackable: the batched engine can train it in a stack (else: the loop).
    """

    name: str
    params: tuple[Param, ...]
    build: Callable[[ActivationSpec, int, int], nn.Module]
    doc: str
    canonical: Callable[[ActivationSpec], ActivationSpec] | None = None
    stackable: bool = True


#: Registered activation kinds by name (:func:`register`).
KINDS: dict[str, ActivationKind] = {}


def register(kind: ActivationKind) -> ActivationKind:
    """Add ``kind`` to :data:`KINDS` (its name must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"activation kind {kind.name!r} is already registered")
    if not kind.name.isidentifier():
        raise ValueError(f"activation kind names must be identifiers, got {kind.name!r}")
    KINDS[kind.name] = kind
    return kind


def _fmt(value: Any) -> str:
    """Text of a value in keys: floats with up to 15 significant digits (5.0 -> "5")."""
    return f"{value:.15g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ActivationSpec:
    """A kind of activation plus its parameters; build with :meth:`make`.

    ``params`` holds every parameter of the kind (defaults filled in), in the kind's
    order, as ``(name, value)`` pairs, so equal specs compare and hash equal.
    ``dropout`` (any kind): the dropout rate after the model's fully connected hidden
    activation, 0 for none (then absent from the key, text and dict).
    """

    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    dropout: float = 0.0

    @classmethod
    def make(cls, kind: str, **params: Any) -> ActivationSpec:
        """The validated spec of ``kind`` with ``params`` (defaults filled in).

        Raises:
            ValueError: an unknown kind or parameter, a missing or invalid value.
        """
        params = dict(params)
        dropout = params.pop("dropout", 0.0)
        try:
            dropout = _DROPOUT.check(dropout)
        except ValueError as exc:
            raise ValueError(f"activation {kind!r}: dropout {exc}") from None
        if kind not in KINDS:
            raise ValueError(f"unknown activation kind {kind!r}; choose from "
                             f"{', '.join(KINDS)}")
        spec = KINDS[kind]
        names = [p.name for p in spec.params]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"activation {kind!r} has no parameter {unknown[0]!r} "
                             f"(parameters: {', '.join(names) or 'none'})")
        values = []
        for p in spec.params:
            if p.name in params:
                try:
                    value = p.check(params[p.name])
                except ValueError as exc:
                    raise ValueError(f"activation {kind!r}: {p.name} {exc}") from None
            elif p.required:
                raise ValueError(f"activation {kind!r} needs {p.name}")
            else:
                value = p.default
            values.append((p.name, value))
        return cls(kind, tuple(values), dropout)

    def __getitem__(self, name: str) -> Any:
        for n, v in self.params:
            if n == name:
                return v
        raise KeyError(f"activation {self.kind!r} has no parameter {name!r}")

    def get(self, name: str, default: Any = None) -> Any:
        """The parameter ``name``, or ``default`` if the kind has none of that name."""
        return dict(self.params).get(name, default)

    @property
    def key(self) -> str:
        """Stable identifier for file names and JSON: the kind, its first parameter
        attached, the others after dashes, e.g. ``relu``, ``mixlu5-reference-fixed``,
        ``relu-dropout0.5``."""
        values = [_fmt(v) for _, v in self.params]
        tail = values[1:] + ([f"dropout{_fmt(self.dropout)}"] if self.dropout else [])
        return self.kind + "".join(values[:1]) + "".join(f"-{v}" for v in tail)

    @property
    def text(self) -> str:
        """The command-line form, e.g. ``mixlu:5:reference:fixed`` (parses back)."""
        fields = [self.kind, *(_fmt(v) for _, v in self.params)]
        if self.dropout:
            fields.append(f"dropout={_fmt(self.dropout)}")
        return ":".join(fields)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., **params}`` (JSON-ready), with ``dropout`` when it is set."""
        d = {"kind": self.kind, **dict(self.params)}
        if self.dropout:
            d["dropout"] = self.dropout
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActivationSpec:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        return cls.make(d.pop("kind"), **d)

    def canonical(self) -> ActivationSpec:
        """The spec that trains the same network (itself unless the kind says otherwise)."""
        fn = KINDS[self.kind].canonical
        spec = fn(self) if fn is not None else self
        return dataclasses.replace(spec, dropout=self.dropout)

    @property
    def stackable(self) -> bool:
        """Whether the batched engine can stack this spec (its kind's registration;
        seeded dropout stacks with any kind)."""
        return KINDS[self.kind].stackable

    @property
    def unstackable_reason(self) -> str:
        """Why :attr:`stackable` is False (one phrase)."""
        if not KINDS[self.kind].stackable:
            return f"activation kind {self.kind!r} is not stackable"
        return ""

    def build(self, num_units: int, mask_seed: int) -> nn.Module:
        """The module for one position of ``num_units`` units."""
        return KINDS[self.kind].build(self, num_units, mask_seed)

    def __str__(self) -> str:
        return self.text


def is_plain_relu(spec: dict[str, Any]) -> bool:
    """Whether the spec (as :meth:`ActivationSpec.to_dict`) is a plain ReLU, with no
    dropout: the 0 % reference of every MixLU mode."""
    return spec["kind"] == "relu" and not spec.get("dropout")


def parse_activation(text: str) -> ActivationSpec:
    """One spec from its text form (module docstring).

    Raises:
        ValueError: naming the item and what is wrong.
    """
    item = str(text).strip()
    if not item:
        raise ValueError("empty activation spec")
    kind, *fields = [f.strip() for f in item.split(":")]
    if kind not in KINDS:
        raise ValueError(f"{item!r}: unknown activation kind {kind!r}; choose from "
                         f"{', '.join(KINDS)}")
    names = [p.name for p in KINDS[kind].params]
    allowed = set(names) | {"dropout"}
    params: dict[str, Any] = {}
    named = False
    for i, f in enumerate(fields):
        if "=" in f:
            name, _, value = f.partition("=")
            name, named = name.strip(), True
        elif named:
            raise ValueError(f"{item!r}: positional value {f!r} after a named one")
        elif i < len(names):
            name, value = names[i], f
        else:
            raise ValueError(f"{item!r}: {kind} takes at most {len(names)} values "
                             f"({', '.join(names)})")
        if name in params:
            raise ValueError(f"{item!r}: {name} given twice")
        if name not in allowed:
            raise ValueError(f"{item!r}: {kind} has no parameter {name!r} (parameters: "
                             f"{', '.join([*names, 'dropout'])})")
        params[name] = value.strip()
    try:
        return ActivationSpec.make(kind, **params)
    except ValueError as exc:
        raise ValueError(f"{item!r}: {exc}") from None


def parse_activations(text: str) -> list[ActivationSpec]:
    """Comma-separated specs; duplicates (equal specs) are refused.

    Raises:
        ValueError: an empty list, a bad item or a duplicate, naming it.
    """
    items = [t for t in str(text).split(",")]
    if not any(t.strip() for t in items):
        raise ValueError(f"needs at least one activation spec, got {text!r}")
    specs = [parse_activation(t) for t in items]
    seen: dict[ActivationSpec, str] = {}
    for t, s in zip(items, specs, strict=True):
        if s in seen:
            raise ValueError(f"{t.strip()!r} is the same activation as {seen[s]!r}")
        seen[s] = t.strip()
    return specs


def activations_help() -> str:
    """The text-form syntax and every registered kind, for ``--help``."""
    kinds = []
    for kind in KINDS.values():
        params = ":".join(
            (f"{p.name.upper()}" if p.required else f"[{p.name.upper()}={_fmt(p.default)}]")
            for p in kind.params)
        kinds.append(f"{kind.name}{':' + params if params else ''} ({kind.doc})")
    return ("comma-separated activation specs KIND[:VALUE...] or KIND:NAME=VALUE, e.g. "
            "'relu, mixlu:5:reference:resample, relu:dropout=0.5'; every kind takes "
            "dropout=P (dropout after the fully connected hidden activation); kinds: "
            + "; ".join(kinds))


# ---------------------------------------------------------------------------
# The registered kinds
# ---------------------------------------------------------------------------


def _build_relu(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return nn.ReLU()


def _build_mixlu(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return MixLU(num_units, spec["percent"] / 100.0, backward=spec["backward"],
                 mask=spec["mask"], seed=mask_seed)


def _canonical_mixlu(spec: ActivationSpec) -> ActivationSpec:
    # no NegLU: every backward and mask mode is the same ReLU net (the mask draws do
    # not touch the weight initialisation's generator)
    return ActivationSpec.make("relu") if spec["percent"] == 0.0 else spec


register(ActivationKind(
    name="relu", params=(), build=_build_relu, doc="max(0, x), nn.ReLU"))
register(ActivationKind(
    name="mixlu",
    params=(
        Param("percent", _float_in(0.0, 100.0, " %"), doc="share of NegLU units, %"),
        Param("backward", _one_of(BACKWARDS), "reference", doc="NegLU backward pass"),
        Param("mask", _one_of(MASK_MODES), "fixed", doc="fixed or resample"),
    ),
    build=_build_mixlu,
    doc="PERCENT % NegLUs min(0, x) among ReLUs; BACKWARD exact|reference|inverted; "
        "MASK fixed|resample",
    canonical=_canonical_mixlu,
))


def _build_leaky(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return LeakyReLU(spec["slope"])


def _build_prelu(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return PReLU(num_units, spec["init"])


def _build_bipolar(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return BipolarReLU(num_units)


def _build_noisy(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return NoisyReLU(spec["sigma"], spec["variance"], seed=mask_seed)


def _relu_when(name: str) -> Callable[[ActivationSpec], ActivationSpec]:
    def canonical(spec: ActivationSpec) -> ActivationSpec:
        return ActivationSpec.make("relu") if spec[name] == 0.0 else spec
    return canonical


register(ActivationKind(
    name="leaky", params=(Param("slope", _float_in(0.0, 1.0), 0.01, doc="negative slope"),),
    build=_build_leaky, doc="leaky ReLU, slope SLOPE for x < 0 (Maas et al. 2013)",
    canonical=_relu_when("slope")))
register(ActivationKind(
    name="prelu", params=(Param("init", _float_in(0.0, 1.0), 0.25, doc="initial slope"),),
    build=_build_prelu,
    doc="PReLU, a learned negative slope per channel from INIT (He et al. 2015)"))
register(ActivationKind(
    name="bipolar", params=(), build=_build_bipolar,
    doc="ReLU on even, min(0, x) on odd units, exact backward (Eidnes & Nokland 2017)"))
register(ActivationKind(
    name="noisy",
    params=(Param("sigma", _float_in(0.0, 1e6), 1.0, doc="noise sd"),
            Param("variance", _one_of(NOISE_VARIANCES), "fixed", doc="fixed|nair-hinton")),
    build=_build_noisy, canonical=_relu_when("sigma"),
    doc="max(0, x + N(0, SIGMA^2)) in training (VARIANCE nair-hinton: SIGMA^2 sigmoid(x))"))

def _int_in(lo: int, hi: int, odd_or_zero: bool = False) -> Callable[[Any], int]:
    what = f"an integer in [{lo}, {hi}]" + (", 0 or odd" if odd_or_zero else "")

    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"must be {what}, got {value!r}")
        try:
            v = decimal(value) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {what}, got {value!r}") from None
        if not (math.isfinite(v) and v == int(v) and lo <= v <= hi) or (
                odd_or_zero and v and int(v) % 2 == 0):
            raise ValueError(f"must be {what}, got {value!r}")
        return int(v)
    return check


def _build_minmaxout(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return MinMaxout(num_units, spec["pieces"], spec["min_percent"] / 100.0, seed=mask_seed)


def _build_convact(spec: ActivationSpec, num_units: int, mask_seed: int) -> nn.Module:
    return ConvAct(num_units, spec["kernel"], (spec["pos"], spec["neg"]))


register(ActivationKind(
    name="minmaxout",
    params=(Param("min_percent", _float_in(0.0, 100.0, " %"), 0.0, doc="share of Min units, %"),
            Param("pieces", _int_in(1, 16), 2, doc="affine pieces per unit")),
    build=_build_minmaxout,
    doc="Min-Maxout: units output the max (Maxout, Goodfellow et al. 2013) or, MIN_PERCENT "
        "% of them, the min of PIECES pieces; the feeding layer widens PIECES times"))
register(ActivationKind(
    name="convact",
    params=(Param("kernel", _int_in(0, 15, odd_or_zero=True), 0,
                  doc="0: per-unit slopes; k: depthwise k x k slope convolution"),
            Param("pos", _float_in(-1e3, 1e3), 1.0, doc="initial slope (bias) for x > 0"),
            Param("neg", _float_in(-1e3, 1e3), 0.0, doc="initial slope (bias) for x < 0")),
    build=_build_convact,
    doc="ConvAct: learned slopes POS for x > 0 and NEG for x < 0 per unit (KERNEL 0) or "
        "from a depthwise KERNEL x KERNEL convolution of the input; init ReLU"))

#: The ``dropout`` parameter every kind accepts.
_DROPOUT = Param("dropout", lambda v: _check_dropout(v), 0.0, doc="dropout rate")


def _check_dropout(value: Any) -> float:
    p = _float_in(0.0, 1.0)(value)
    if p >= 1.0:
        raise ValueError(f"must be a number in [0, 1), got {value!r}")
    return p


#: Model names of :class:`RunSpec` -> ``"module:class"`` of the model, imported on first
#: use by :func:`model_class` (so that this module does not load the models).
MODELS: dict[str, str] = {
    "lenet": "ann.models:LeNet",
    "lenet5": "ann.models:LeNet5",
}


def model_class(name: str) -> type[nn.Module]:
    """The model class registered as ``name`` in :data:`MODELS`.

    Raises:
        ValueError: an unknown name.
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {name!r}")
    return resolve(MODELS[name])


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: model x activation spec x seed.

    Args:
        activation: the activation in every activation position of the model.
        seed: seeds the activation draws (masks), the initial weights and the data order.
        model: a name of :data:`MODELS` (``"lenet"``, ``"lenet5"``).
    """

    activation: ActivationSpec
    seed: int
    model: str = "lenet"

    def __post_init__(self) -> None:
        if not isinstance(self.activation, ActivationSpec):
            raise ValueError(f"activation must be an ActivationSpec, got {self.activation!r}")
        if not is_integer(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")

    @classmethod
    def mixlu(cls, percent: float, backward: str = "reference", seed: int = 0,
              mask: str = "fixed", model: str = "lenet") -> RunSpec:
        """The MixLU run ``percent`` % / ``backward`` / ``mask`` with ``seed``."""
        return cls(ActivationSpec.make("mixlu", percent=percent, backward=backward, mask=mask),
                   seed, model)

    @property
    def neg_percent(self) -> float:
        """Share of NegLU units in %, 0 for kinds without NegLUs (published JSON field)."""
        return float(self.activation.get("percent", 0.0))

    @property
    def neg_fraction(self) -> float:
        """``neg_percent / 100``."""
        return self.neg_percent / 100.0

    @property
    def backward(self) -> str | None:
        """NegLU backward mode, ``None`` for kinds without NegLUs (published JSON field)."""
        return self.activation.get("backward")

    @property
    def key(self) -> str:
        """Stable identifier (file name of a stored run), e.g.
        ``lenet-mixlu1-reference-fixed-seed0``."""
        return f"{self.model}-{self.activation.key}-seed{self.seed}"

    def canonical(self) -> RunSpec:
        """The run that trains the same network (trained once for all its aliases)."""
        return RunSpec(self.activation.canonical(), self.seed, self.model)

    def fields(self) -> dict[str, Any]:
        """The spec's keys of a result record: the published ``neg_percent``,
        ``backward``, ``seed`` and the new ``model``, ``activation``,
        ``activation_spec``."""
        return {
            "neg_percent": self.neg_percent,
            "backward": self.backward,
            "seed": self.seed,
            "model": self.model,
            "activation": self.activation.key,
            "activation_spec": self.activation.to_dict(),
        }

    @classmethod
    def from_result(cls, result: dict[str, Any], mask: str = "fixed",
                    model: str = "lenet") -> RunSpec:
        """The spec of a stored result; results of the earlier layout (no
        ``activation_spec``) are MixLU runs whose mask and model the sweep names."""
        if "activation_spec" in result:
            return cls(ActivationSpec.from_dict(result["activation_spec"]),
                       int(result["seed"]), result.get("model", model))
        return cls.mixlu(result["neg_percent"], result["backward"], int(result["seed"]),
                         mask, model)


def mixlu_grid(percents: Iterable[float], backwards: Iterable[str], mask: str
               ) -> list[ActivationSpec]:
    """The MixLU specs of a ``--percents`` x ``--backward`` grid, ordered backward mode,
    then percentage (duplicates dropped)."""
    specs = [ActivationSpec.make("mixlu", percent=p, backward=b, mask=mask)
             for b in dict.fromkeys(backwards) for p in dict.fromkeys(percents)]
    return list(dict.fromkeys(specs))
