"""The user's environment and typing, against the scripts: a terminal that is not
UTF-8, a home that cannot be written, no or a broken C++ compiler, numbers with digit
separators or in hexadecimal, an option that does nothing without another, a value of
100 KB.  A fault of the environment costs at most a warning line per fallback and the
script finishes; a bad value is one ``error:`` line, short, exit 2."""

import os

import pytest

from harness import (
    BASE,
    bad,
    check_bad_input,
    expect_no_problems,
    one_line_problems,
    success_problems,
)

pytestmark = pytest.mark.hostile

ASCII_TERMINAL = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def warnings_of(res) -> list[str]:
    return [line for line in res.stderr_lines if line.startswith("warning:")]


# ---- numbers and options ----------------------------------------------------------------

CASES = [
    bad("mnist", "percents-digit-separator", ["--percents", "0,1_0"], ["--percents"]),
    bad("mnist", "spec-digit-separator", ["--activations", "relu, mixlu:1_0"],
        ["--activations"]),
    bad("mnist", "seeds-digit-separator", ["--seeds", "1_0"], ["--seeds"]),
    bad("mnist", "epochs-hexadecimal", ["--epochs", "0x2"], ["--epochs"]),
    bad("stdp", "trials-hexadecimal", ["--trials", "0x10"], ["--trials"]),
    bad("mnist", "signs-every-without-signs", ["--signs-every", "5"], ["--signs-every"]),
    bad("mnist", "ray-address-without-ray", ["--ray-address", "127.0.0.1:1"],
        ["--executor ray"]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_numbers_and_lonely_options_are_one_line(cli, case):
    check_bad_input(cli, case)


def test_a_100_kb_value_is_one_short_line(cli):
    spec = ",".join(["mixlu:5:sideways"] * 6_000)  # (one argument may hold 128 KB)
    res = cli.run("mnist", BASE["mnist"] + ["--activations", spec])
    problems = one_line_problems(res, ["--activations"])
    if len(res.stderr) > 600:
        problems.append(f"an error line of {len(res.stderr):,} characters")
    expect_no_problems(problems, [res], "--activations <100 KB>")


# ---- the terminal ------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["mnist", "stdp"])
def test_a_terminal_that_is_not_utf8_gets_the_whole_output(cli, script):
    out = cli.fresh("out", f"ascii-{script}")
    res = cli.run(script, BASE[script] + ["--out", str(out)], env=ASCII_TERMINAL,
                  timeout=240)
    problems = success_problems(res)
    if not res.stdout.isascii():
        problems.append("non-ASCII output on an ASCII terminal")
    stem = {"mnist": "mixlu_mnist", "stdp": "stdp_table"}[script]
    if not (out / f"{stem}.json").is_file():
        problems.append(f"{stem}.json not written")
    elif not (out / f"{stem}.json").read_bytes().decode("utf-8"):
        problems.append(f"{stem}.json is empty")
    expect_no_problems(problems, [res], f"{script} with LC_ALL=C")


# ---- caches and compilers (stdp_table.py builds a C++ project in its cache) ---------------

def test_a_home_that_cannot_be_written_falls_back_to_a_temporary_cache(cli):
    blocker = cli.fresh("home", "blocker")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the home folder should be")
    env = {"HOME": str(blocker / "home"), "XDG_CACHE_HOME": "", "MPLCONFIGDIR": "",
           "TMPDIR": str(cli.fresh("home", "tmp"))}
    os.makedirs(env["TMPDIR"])
    res = cli.run("stdp", BASE["stdp"], env=env, timeout=240)
    problems = success_problems(res)
    lines = warnings_of(res)
    if not any("cannot be written" in line and "temporary" in line or
               "goes to" in line for line in lines):
        problems.append("no warning line naming the fallback cache")
    if len(res.stderr_lines) > 2:
        problems.append(f"{len(res.stderr_lines)} stderr lines")
    expect_no_problems(problems, [res], "stdp with an unwritable home")


@pytest.mark.parametrize("compiler", ["missing", "broken"])
def test_no_or_a_broken_compiler_is_a_warning_line_per_fallback(cli, compiler):
    folder = cli.fresh("compiler", compiler)
    folder.mkdir(parents=True)
    cxx = folder / "g++"
    if compiler == "broken":
        cxx.write_text("#!/bin/sh\necho 'broken compiler' >&2\nexit 1\n")
        cxx.chmod(0o755)
    env = {"CXX": str(cxx), "STDP_SIM_STANDALONE_DIR": str(folder / "build"),
           "STDP_SIM_TARGET": "", "TMPDIR": str(folder)}
    res = cli.run("stdp", BASE["stdp"], env=env, timeout=300)
    problems = success_problems(res)
    noise = [line for line in res.stderr_lines + res.stdout.splitlines()
             if "broken compiler" in line or line.startswith("make:")]
    if noise:
        problems.append(f"compiler output on the terminal: {noise[0]!r}")
    if len(warnings_of(res)) not in (1, 2) or len(res.stderr_lines) > 2:
        problems.append(f"{len(res.stderr_lines)} stderr lines, "
                        f"{len(warnings_of(res))} warning lines")
    expect_no_problems(problems, [res], f"stdp with a {compiler} compiler")
