"""radseg._progress: a bar on a terminal, whole lines when piped (a log must not fill with redraw fragments)."""
import io

from radseg._progress import PlainProgress, progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_piped_output_gets_whole_lines_without_carriage_returns():
    out = io.StringIO()
    bar = progress(total=4, unit="case", desc="eval click", stream=out, line_every_s=0)
    assert isinstance(bar, PlainProgress)
    for _ in range(4):
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("eval click: 1/4 case (25%)") and lines[-1].startswith("eval click: 4/4 case (100%)")


def test_piped_output_is_rate_limited():
    out = io.StringIO()
    bar = progress(total=1000, stream=out, line_every_s=3600)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert len(out.getvalue().splitlines()) == 1  # only the closing line


def test_a_terminal_gets_a_redrawn_bar_and_disable_prints_nothing():
    tty = _Terminal()
    bar = progress(total=3, unit="step", stream=tty)
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert "\r" in tty.getvalue()  # tqdm or the fallback line, redrawn in place
    quiet = io.StringIO()
    bar = progress(total=3, stream=quiet, disable=True, line_every_s=0)
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == ""
