"""Modules renamed in this release keep their old import path for one release: it
warns, and gives the very objects of the new module."""

import importlib
import sys

import pytest

RENAMED = {
    "ann.results": "ann.run_store",
    "ann.observe": "ann.step_observer",
    "ann.batched.surgery": "ann.batched.stacking",
    "bridge.observer": "bridge.sign_observer",
    "bridge.mapping": "bridge.sign_mapping",
    "bridge.convention": "bridge.convention_verdict",
    "ann.protocols": "ann.config",
    "ann.data.idx": "common.data.idx",
    "ann.data.download": "common.data.download",
}


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_old_path_warns_and_reexports_the_new_module(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is renamed {new}"):
        alias = importlib.import_module(old)
    module = importlib.import_module(new)
    shared = set(alias.__all__) & set(module.__all__)
    assert shared
    for name in shared:
        assert getattr(alias, name) is getattr(module, name), name


def test_moved_names_stay_importable_from_their_old_modules():
    import ann.config
    import ann.environment
    import ann.experiments.options
    import ann.train

    sys.modules.pop("ann.experiment", None)
    with pytest.warns(DeprecationWarning, match="ann.experiment moved to ann.experiments"):
        import ann.experiment
    assert ann.experiment.parse_percents is ann.experiments.options.parse_percents
    assert ann.experiment.check_sweep_arguments is ann.experiments.options.check_options
    sys.modules.pop("ann.results", None)
    with pytest.warns(DeprecationWarning):
        import ann.results
    assert ann.results.environment is ann.environment.environment
    assert ann.train.TrainConfig is ann.config.TrainConfig
    assert ann.train.TRAINER_VERSION == ann.config.TRAINER_VERSION
