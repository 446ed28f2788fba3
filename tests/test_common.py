"""The shared helpers of ``common/``: atomic files, the CLI error policy, the environment."""

import errno
import math
import os
import platform
import stat
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from common.cli import (
    EXIT_INTERRUPTED,
    EXIT_USER,
    Interrupted,
    OneLineArgumentParser,
    UserError,
    cli_main,
)
from common.environment import environment, package_versions
from common.files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    read_json,
)

REPO = Path(__file__).resolve().parents[1]


def listing(folder):
    """Every name in ``folder``, hidden ones included."""
    return sorted(os.listdir(folder))


@pytest.fixture
def umask():
    """Set the process umask for one test; the old one is restored afterwards."""
    old = os.umask(0o022)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(old)


# ---------------------------------------------------------------------------- files


def test_atomic_write_failing_writer_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.bin"
    target.write_bytes(b"old contents")

    def write(tmp):
        tmp.write_bytes(b"partial new contents")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        atomic_write(target, write)
    assert target.read_bytes() == b"old contents"
    assert listing(tmp_path) == ["result.bin"]


def test_atomic_write_keyboard_interrupt_in_writer_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.bin"

    def write(tmp):
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write)
    assert listing(tmp_path) == []


def test_atomic_write_success_replaces_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.bin"
    target.write_bytes(b"old contents")
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp != target
        assert tmp.parent == target.parent
        tmp.write_bytes(b"new contents")

    assert atomic_write(target, write) == target
    assert target.read_bytes() == b"new contents"
    assert listing(tmp_path) == ["result.bin"]
    assert not seen[0].exists()


def test_atomic_write_creates_parent_folders(tmp_path):
    target = tmp_path / "a" / "b" / "c" / "result.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert listing(target.parent) == ["result.txt"]


def test_atomic_write_bytes_and_text(tmp_path):
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01\xff")
    atomic_write_text(tmp_path / "t.txt", "π = 3.14\n")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\xff"
    assert (tmp_path / "t.txt").read_bytes() == "π = 3.14\n".encode()
    assert listing(tmp_path) == ["b.bin", "t.txt"]


@pytest.mark.parametrize(
    "mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["022", "077", "002"]
)
def test_atomic_write_permissions_follow_umask(tmp_path, umask, mask, mode):
    umask(mask)
    target = tmp_path / "result.txt"
    atomic_write_text(target, "x")
    assert stat.S_IMODE(target.stat().st_mode) == mode == 0o666 & ~mask
    # Replacing an existing file gives the same permissions.
    atomic_write_text(target, "y")
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_atomic_write_json_round_trip(tmp_path):
    obj = {"a": [1, 2.5, None], "b": {"c": "d"}, "e": True}
    target = atomic_write_json(tmp_path / "r.json", obj)
    assert read_json(target) == obj
    assert target.read_text(encoding="utf-8").endswith("\n")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_atomic_write_json_refuses_nan_and_keeps_old_file(tmp_path, bad):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"loss": 1.0})
    before = target.read_bytes()
    with pytest.raises(ValueError):
        atomic_write_json(target, {"loss": bad})
    assert target.read_bytes() == before
    assert read_json(target) == {"loss": 1.0}
    assert listing(tmp_path) == ["r.json"]


def test_atomic_write_json_refuses_non_json_type_and_keeps_old_file(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, [1])
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert read_json(target) == [1]
    assert listing(tmp_path) == ["r.json"]


def test_read_json_truncated_file_names_the_file(tmp_path):
    target = tmp_path / "truncated.json"
    target.write_text('{"loss": [1.0, 2.0', encoding="utf-8")
    with pytest.raises(ValueError) as info:
        read_json(target)
    assert str(target) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_json_non_utf8_file_names_the_file(tmp_path):
    target = tmp_path / "binary.json"
    target.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="binary.json"):
        read_json(target)


def test_check_writable_dir_creates_missing_nested_directory(tmp_path):
    target = tmp_path / "x" / "y" / "z"
    assert check_writable_dir(target) == target
    assert target.is_dir()
    assert listing(target) == []


def test_check_writable_dir_leaves_no_probe_file(tmp_path):
    (tmp_path / "kept.txt").write_text("k")
    assert check_writable_dir(tmp_path, "--out") == tmp_path
    assert listing(tmp_path) == ["kept.txt"]


def assert_one_line_naming(exc_info, option, path):
    message = str(exc_info.value)
    assert "\n" not in message
    assert message.startswith(option + " ")
    assert str(path) in message


@pytest.mark.parametrize("option", ["--out", "--results-dir"])
def test_check_writable_dir_refuses_regular_file(tmp_path, option):
    target = tmp_path / "file"
    target.write_text("contents")
    with pytest.raises(ValueError) as info:
        check_writable_dir(target, option)
    assert_one_line_naming(info, option, target)
    assert target.read_text() == "contents"
    assert listing(tmp_path) == ["file"]


@pytest.mark.parametrize("option", ["--out", "--results-dir"])
def test_check_writable_dir_refuses_path_under_regular_file(tmp_path, option):
    parent = tmp_path / "file"
    parent.write_text("contents")
    target = parent / "sub"
    with pytest.raises(ValueError) as info:
        check_writable_dir(target, option)
    assert_one_line_naming(info, option, target)
    assert parent.read_text() == "contents"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="no /proc on this system")
def test_check_writable_dir_refuses_pseudo_file_system():
    target = Path("/proc/x")
    with pytest.raises(ValueError) as info:
        check_writable_dir(target, "--out")
    assert_one_line_naming(info, "--out", target)


def test_check_writable_dir_default_option_is_out(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(ValueError, match=r"^--out "):
        check_writable_dir(target)


# ------------------------------------------------------------------------------ cli


def make_parser():
    parser = OneLineArgumentParser(prog="tool", description="a tiny test tool")
    parser.add_argument("--n", type=int, default=1)
    return parser


def raising(exc):
    def run(args):
        raise exc

    return run


def test_cli_main_success_returns_zero_and_passes_parsed_args(capsys):
    seen = []
    assert cli_main(make_parser(), seen.append, ["--n", "7"]) == 0
    assert seen[0].n == 7
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")


def test_cli_main_user_error_is_one_line_exit_2(capsys):
    run = raising(UserError("--n must be positive, got -1"))
    assert cli_main(make_parser(), run, ["--n", "-1"]) == EXIT_USER == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["error: --n must be positive, got -1"]


def test_cli_main_user_error_subclass_is_one_line_exit_2(capsys):
    class StoreError(UserError):
        pass

    assert cli_main(make_parser(), raising(StoreError("store.json is corrupt")), []) == 2
    assert capsys.readouterr().err.splitlines() == ["error: store.json is corrupt"]


@pytest.mark.parametrize("argv", [["--bogus"], ["--n", "abc"], ["--n"], ["--n", "1_0"],
                                  ["--n", "0x10"], ["--n", "1e3"]])
def test_cli_main_bad_option_exits_2_with_one_error_line(capsys, argv):
    called = []
    with pytest.raises(SystemExit) as info:
        cli_main(make_parser(), called.append, argv)
    assert info.value.code == 2
    assert called == []
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")


def test_numbers_typed_by_users_are_plain_decimals():
    from common.checks import decimal, decimal_integer

    assert [decimal(t) for t in ("5", "-0.25", "1e-3", ".5", " 7 ", "+2.")] == [
        5.0, -0.25, 0.001, 0.5, 7.0, 2.0]
    assert decimal_integer("-12") == -12
    for text in ("1_0", "0x10", "inf", "nan", "1 0", "", "1,5", "e3"):
        with pytest.raises(ValueError, match="not a decimal number"):
            decimal(text)
    for text in ("1_0", "1.0", "1e3", "0x10", ""):
        with pytest.raises(ValueError, match="not a decimal integer"):
            decimal_integer(text)
    parser = OneLineArgumentParser()
    parser.add_argument("--x", type=float)
    assert parser.parse_args(["--x", "2.5"]).x == 2.5


def test_long_values_are_cut_and_an_error_stays_one_line(capsys):
    from common.cli import LONGEST_VALUE, shorten

    spec = "mixlu:5," * 20_000
    message = shorten(f"--activations: {spec!r} is bad;\nsee --help")
    assert len(message) < 2 * LONGEST_VALUE + 100 and "\n" not in message
    assert "characters]" in message and message.endswith("is bad;\\nsee --help")
    assert shorten("--out 'short' is not a directory") == "--out 'short' is not a directory"
    run = raising(UserError(f"--activations: {spec!r} is not a spec"))
    assert cli_main(make_parser(), run, []) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and len(err) < 400


def test_cli_main_keyboard_interrupt_exits_130(capsys):
    assert cli_main(make_parser(), raising(KeyboardInterrupt()), []) == EXIT_INTERRUPTED
    assert EXIT_INTERRUPTED == 130
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["interrupted"]


def test_cli_main_interrupted_prints_its_message(capsys):
    note = "interrupted; 3 finished runs kept in X; rerun the same command to resume"
    assert cli_main(make_parser(), raising(Interrupted(note)), []) == 130
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [note]


def test_cli_main_interrupted_without_message_prints_interrupted(capsys):
    assert cli_main(make_parser(), raising(Interrupted()), []) == 130
    assert capsys.readouterr().err.splitlines() == ["interrupted"]


def test_cli_main_disk_full_is_one_line_exit_2(capsys):
    exc = OSError(errno.ENOSPC, "No space left on device", "/x/y")
    assert cli_main(make_parser(), raising(exc), []) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "No space left on device" in lines[0]
    assert "/x/y" in lines[0]


def test_cli_main_permission_denied_is_one_line_exit_2(capsys):
    exc = PermissionError(errno.EACCES, "Permission denied", "/ro/out.json")
    assert cli_main(make_parser(), raising(exc), []) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "Permission denied" in lines[0] and "/ro/out.json" in lines[0]


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y"),
        OSError(errno.ENOENT, "No such file or directory"),
        OSError(errno.EBADF, "Bad file descriptor"),
        RuntimeError("a bug"),
        ValueError("a bug, not a UserError"),
    ],
    ids=["FileNotFoundError", "ENOENT", "EBADF", "RuntimeError", "ValueError"],
)
def test_cli_main_other_errors_propagate(capsys, exc):
    with pytest.raises(type(exc)) as info:
        cli_main(make_parser(), raising(exc), [])
    assert info.value is exc
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------- environment


def test_package_versions_missing_distribution_is_none():
    versions = package_versions(("surely-not-installed-pkg-xyz", "numpy"))
    assert versions == {"surely-not-installed-pkg-xyz": None, "numpy": numpy.__version__}
    assert isinstance(versions["numpy"], str)


def test_environment_keys_and_extra():
    env = environment()
    for key in ("python", "torch", "brian2", "numpy", "platform", "cpu_count", "git_commit"):
        assert key in env
    assert env["python"] == platform.python_version()
    assert env["numpy"] == numpy.__version__
    assert env["cpu_count"] == os.cpu_count()
    assert env["git_commit"] is None or isinstance(env["git_commit"], str)
    assert "device" not in env

    env = environment(device="cuda:0", torch_threads=1, target="cython")
    assert env["device"] == "cuda:0"
    assert env["torch_threads"] == 1
    assert env["target"] == "cython"
    assert env["numpy"] == numpy.__version__


def test_environment_imports_neither_torch_nor_brian2():
    code = (
        "import sys; import common.environment as e; e.environment(); "
        "print('torch' in sys.modules, 'brian2' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "False False"


def test_cli_main_prints_warnings_as_one_line_and_restores_the_hook(capsys):
    import warnings

    def run(args):
        warnings.warn("3 run(s) cannot be stacked", UserWarning, stacklevel=1)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        before = warnings.showwarning
        assert cli_main(make_parser(), run, []) == 0
        assert warnings.showwarning is before
    out, err = capsys.readouterr()
    assert out == "" and err == "warning: 3 run(s) cannot be stacked\n"


def test_atomic_write_short_write_without_errno_becomes_an_io_error(tmp_path):
    """A size limit makes Python raise OSError("... requested and ... written") with no
    errno; it becomes EIO naming the file, which the CLIs print in one line."""
    import errno

    def write(tmp):
        raise OSError("17512 requested and 4096 written")

    with pytest.raises(OSError) as info:
        atomic_write(tmp_path / "big.json", write)
    assert info.value.errno == errno.EIO and info.value.filename == str(tmp_path / "big.json")
    assert listing(tmp_path) == []


def test_short_write_over_the_file_size_limit_names_the_limit(monkeypatch):
    import errno
    import resource

    from common.files import short_write_error

    short = OSError("17512 requested and 4096 written")
    monkeypatch.setattr(resource, "getrlimit", lambda which: (16384, resource.RLIM_INFINITY))
    error = short_write_error(short, "/out/big.json")
    assert error.errno == errno.EFBIG and "16384" in error.strerror
    assert error.filename == "/out/big.json"
    monkeypatch.setattr(resource, "getrlimit",
                        lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert short_write_error(short, "/out/big.json").errno == errno.EIO


def test_cli_main_full_stdout_is_one_line_exit_2(capsys, monkeypatch):
    import errno
    import io

    class Full(io.StringIO):
        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    assert cli_main(make_parser(), lambda args: print("table"), []) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: No space left on device writing stdout; free space, then rerun the "
        "same command (finished results are kept)"]


def test_cli_main_closed_stdout_pipe_ends_quietly_with_141(capsys):
    assert cli_main(make_parser(), raising(BrokenPipeError(32, "Broken pipe")), []) == 141
    assert capsys.readouterr() == ("", "")


def test_atomic_write_errors_name_the_target_file(tmp_path):
    import errno

    def write(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name attached

    with pytest.raises(OSError) as info:
        atomic_write(tmp_path / "table.png", write)
    assert info.value.filename == str(tmp_path / "table.png")


@pytest.mark.parametrize("number, remedy", [
    ("ENOSPC", "free space"), ("EFBIG", "raise the file-size limit (ulimit -f)"),
    ("EACCES", "fix the permissions"), (None, "free space or raise the file-size limit"),
])
def test_cli_main_environment_errors_say_what_to_do(capsys, number, remedy):
    import errno

    exc = (OSError(getattr(errno, number), "Oops", "/out/x.json") if number
           else OSError("17512 requested and 4096 written"))
    assert cli_main(make_parser(), raising(exc), []) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and f"; {remedy}" in line
    assert ("writing /out/x.json" in line) == bool(number)


@pytest.mark.parametrize("written", ["x" * 100, "line\n" * 5000])
def test_a_full_stdout_is_one_error_line_and_status_2(written):
    """Stdout on /dev/full: whether the write or the final flush fails, one line and
    status 2; nothing left over fails again when the interpreter exits (status 120)."""
    code = ("import sys\nfrom common.cli import OneLineArgumentParser, cli_main\n"
            f"sys.exit(cli_main(OneLineArgumentParser(), lambda a: sys.stdout.write({written!r}),"
            " []))\n")
    with open(os.devnull if not os.path.exists("/dev/full") else "/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-c", code], stdout=full, stderr=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[1], timeout=60)
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: No space left on device")
    assert len(done.stderr.splitlines()) == 1, done.stderr
