"""Activation specs (every registered kind) and run specs: text form, keys, canonical
forms, registry, errors."""

import pytest
from torch import nn

from ann.activations import MixLU
from ann.specs import (
    KINDS,
    ActivationKind,
    ActivationSpec,
    Param,
    RunSpec,
    parse_activation,
    parse_activations,
    register,
)


def test_text_form_positional_named_and_defaults():
    spec = parse_activation("mixlu:5:exact:resample")
    assert spec == ActivationSpec.make("mixlu", percent=5, backward="exact", mask="resample")
    assert parse_activation(" mixlu : percent=5 : mask=resample : backward=exact ") == spec
    assert parse_activation("mixlu:5") == ActivationSpec.make("mixlu", percent=5.0)
    assert parse_activation("mixlu:5")["backward"] == "reference"  # the defaults
    assert parse_activation("mixlu:5")["mask"] == "fixed"
    assert parse_activation("relu") == ActivationSpec.make("relu")
    for text in ("relu", "mixlu:0.25:inverted:fixed", "mixlu:1.0000001:exact:resample"):
        assert parse_activation(parse_activation(text).text) == parse_activation(text)


def test_keys_are_stable_and_distinct():
    assert ActivationSpec.make("relu").key == "relu"
    assert parse_activation("mixlu:5").key == "mixlu5-reference-fixed"
    assert parse_activation("mixlu:0.25:exact:resample").key == "mixlu0.25-exact-resample"
    assert parse_activation("mixlu:1").key != parse_activation("mixlu:1.0000001").key
    assert RunSpec.mixlu(1, "reference", 0).key == "lenet-mixlu1-reference-fixed-seed0"
    assert RunSpec.mixlu(1, seed=3, model="lenet5").key == "lenet5-mixlu1-reference-fixed-seed3"


#: (text, key, key of the canonical form) for every registered kind.
ROUND_TRIPS = [
    ("relu", "relu", "relu"),
    ("mixlu:5", "mixlu5-reference-fixed", "mixlu5-reference-fixed"),
    ("mixlu:0:exact:resample", "mixlu0-exact-resample", "relu"),
    ("leaky:0.05", "leaky0.05", "leaky0.05"),
    ("leaky:0", "leaky0", "relu"),
    ("prelu", "prelu0.25", "prelu0.25"),
    ("bipolar", "bipolar", "bipolar"),
    ("noisy:0.5:nair-hinton", "noisy0.5-nair-hinton", "noisy0.5-nair-hinton"),
    ("noisy:0", "noisy0-fixed", "relu"),
    ("relu:dropout=0.5", "relu-dropout0.5", "relu-dropout0.5"),
    ("mixlu:0:dropout=0.5", "mixlu0-reference-fixed-dropout0.5", "relu-dropout0.5"),
    ("minmaxout:50:3", "minmaxout50-3", "minmaxout50-3"),
    ("convact:3", "convact3-1-0", "convact3-1-0"),
]


def test_the_round_trips_cover_every_registered_kind():
    assert {parse_activation(text).kind for text, _, _ in ROUND_TRIPS} == set(KINDS)


@pytest.mark.parametrize(("text", "key", "canonical"), ROUND_TRIPS)
def test_every_kind_round_trips_through_text_and_dict(text, key, canonical):
    spec = parse_activation(text)
    assert spec.key == key and spec.canonical().key == canonical
    assert parse_activation(spec.text) == spec
    assert type(spec).from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(("text", "message"), [
    ("", "needs at least one"),
    ("tanh", "unknown activation kind 'tanh'"),
    ("mixlu", "needs percent"),
    ("mixlu:150", r"percent must be a number in \[0, 100\]"),
    ("mixlu:nan", "percent must be a number"),
    ("mixlu:5:sideways", "backward must be one of exact, reference, inverted"),
    ("mixlu:5:exact:sometimes", "mask must be one of fixed, resample"),
    ("mixlu:5:exact:fixed:7", "takes at most 3 values"),
    ("mixlu:percent=5:exact", "positional value 'exact' after a named one"),
    ("mixlu:5:percent=6", "percent given twice"),
    ("mixlu:5:colour=red", "has no parameter 'colour'"),
    ("relu:1", "takes at most 0 values"),
    ("relu, relu", "'relu' is the same activation as 'relu'"),
    ("mixlu:5, mixlu:5.0:reference:fixed", "same activation"),
    ("relu:dropout=1", r"dropout must be a number in \[0, 1\)"),
    ("leaky:2", r"slope must be a number in \[0, 1\]"),
    ("noisy:1:loud", "variance must be one of fixed, nair-hinton"),
    ("bipolar:3", "takes at most 0 values"),
    ("relu:depth=3", "has no parameter 'depth'"),
])
def test_bad_specs_name_the_item_and_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_activations(text)


def test_canonical_form_merges_every_zero_percent_mixlu_into_relu():
    relu = ActivationSpec.make("relu")
    for backward in ("exact", "reference", "inverted"):
        for mask in ("fixed", "resample"):
            spec = ActivationSpec.make("mixlu", percent=0, backward=backward, mask=mask)
            assert spec.canonical() == relu
    assert parse_activation("mixlu:5").canonical() == parse_activation("mixlu:5")
    run = RunSpec.mixlu(0, "inverted", 4, model="lenet5")
    assert run.canonical() == RunSpec(relu, 4, "lenet5")
    assert (run.neg_percent, run.backward) == (0.0, "inverted")
    assert (RunSpec(relu, 0).neg_percent, RunSpec(relu, 0).backward) == (0.0, None)


def test_run_spec_validation_and_result_fields():
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        RunSpec.mixlu(1, seed=-1)
    with pytest.raises(ValueError, match="model must be one of lenet, lenet5"):
        RunSpec.mixlu(1, model="vgg")
    with pytest.raises(ValueError, match="ActivationSpec"):
        RunSpec("relu", 0)
    fields = RunSpec.mixlu(5, "exact", 2, "resample").fields()
    assert fields == {"neg_percent": 5.0, "backward": "exact", "seed": 2, "model": "lenet",
                      "activation": "mixlu5-exact-resample",
                      "activation_spec": {"kind": "mixlu", "percent": 5.0, "backward": "exact",
                                          "mask": "resample"}}
    old = {"neg_percent": 3.0, "backward": "inverted", "seed": 1}  # the earlier layout
    assert RunSpec.from_result(old, mask="resample") == RunSpec.mixlu(3, "inverted", 1,
                                                                     "resample")
    assert RunSpec.from_result({**old, **fields}) == RunSpec.mixlu(5, "exact", 2, "resample")


def test_a_new_kind_is_one_registered_entry(monkeypatch):
    monkeypatch.setattr("ann.specs.KINDS", dict(KINDS))
    from ann import specs

    def build(spec, units, seed):
        return nn.LeakyReLU(spec["slope"])

    register(ActivationKind("leakytest", (Param("slope", float, 0.01),), build,
                            "test kind", stackable=False))
    spec = specs.parse_activation("leakytest:0.2")
    assert spec.key == "leakytest0.2" and not spec.stackable
    assert isinstance(spec.build(10, 0), nn.LeakyReLU)
    with pytest.raises(ValueError, match="already registered"):
        register(ActivationKind("leakytest", (), build, "again"))
    assert isinstance(parse_activation("mixlu:5").build(20, 1), MixLU)
