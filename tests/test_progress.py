"""Progress bars draw on a terminal only (common.progress)."""

import io

from common.progress import on_terminal, progress_bar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_bar_draws_on_a_terminal_and_leaves_files_clean():
    for stream, draws in ((_Terminal(), True), (io.StringIO(), False)):
        with progress_bar(range(3), desc="stage", file=stream) as bar:
            assert list(bar) == [0, 1, 2]
        assert ("stage" in stream.getvalue()) is draws
        assert ("\r" in stream.getvalue()) is draws


def test_no_progress_turns_the_bar_off_on_a_terminal_too():
    stream = _Terminal()
    bar = progress_bar(total=5, desc="stage", file=stream, enabled=False)
    bar.update(5)
    bar.close()
    assert stream.getvalue() == ""


def test_streams_without_isatty_or_closed_are_not_terminals():
    closed = io.StringIO()
    closed.close()
    assert not on_terminal(closed)
    assert not on_terminal(object())
    assert on_terminal(_Terminal())
