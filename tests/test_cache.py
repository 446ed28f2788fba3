"""Caches fall back to a temporary folder, with one line, when home cannot be written."""

import warnings

import pytest

from common import cache


@pytest.fixture
def blocked(tmp_path):
    """A path that cannot be created: its parent is a file (as root, permissions do not
    stop writes, so the tests block creation instead)."""
    (tmp_path / "file").write_text("")
    return tmp_path / "file" / "cache"


def test_a_writable_cache_is_used_as_it_is(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.writable_cache(tmp_path / "c", "x") == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_an_unwritable_cache_falls_back_with_one_warning(blocked, monkeypatch, tmp_path):
    (tmp_path / "tmp").mkdir(exist_ok=True)
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setattr(cache, "_warned", set())
    with pytest.warns(UserWarning, match="cannot be written; the build goes to") as record:
        first = cache.writable_cache(blocked, "the build")
    assert first.is_dir() and first.name == "cache" and str(tmp_path / "tmp") in str(first)
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per process
        assert cache.writable_cache(blocked, "the build") == first


def test_the_standalone_cache_follows_xdg_and_falls_back(blocked, monkeypatch, tmp_path):
    from stdp_sim.backend import standalone_dir

    monkeypatch.delenv("STDP_SIM_STANDALONE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert standalone_dir() == tmp_path / "xdg" / "stdp_sim" / "cpp_standalone"
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    with pytest.warns(UserWarning, match="C\\+\\+ build cache"):
        assert standalone_dir().is_dir()


def test_matplotlib_gets_a_temporary_folder_only_when_its_own_is_unwritable(
        blocked, monkeypatch, tmp_path):
    monkeypatch.setenv("MPLCONFIGDIR", "")  # unset for the function, restored afterwards
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache.quiet_matplotlib_cache()
    assert __import__("os").environ["MPLCONFIGDIR"] == ""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    cache.quiet_matplotlib_cache()
    assert __import__("os").environ["MPLCONFIGDIR"].startswith(str(tmp_path / "tmp"))


def test_the_temporary_fallback_is_this_users_own(monkeypatch, tmp_path):
    """A folder another user made first (or one others may write) is not used: a
    build or log planted there would be run or overwritten."""
    import os
    import stat

    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path))
    mine = cache.private_temp_dir()
    assert mine.parent == tmp_path and stat.S_IMODE(os.stat(mine).st_mode) == 0o700
    os.chmod(mine, 0o777)  # now others could write there
    other = cache.private_temp_dir()
    assert other != mine and other.parent == tmp_path
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o700
