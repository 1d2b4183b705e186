"""fraud.inert: log text shown inert on a terminal and in report.md."""
import pytest

from fraud.inert import inert


@pytest.mark.parametrize(("raw", "shown"), [
    ("dev\x1b[2J\x1b[32mOK", "dev\\x1b[2J\\x1b[32mOK"),  # clear screen, colour: ESC as text
    ("a\nALL CLEAR", "a\\x0aALL CLEAR"),  # a forged line
    ("a\rb\x00c\x7fd", "a\\x0db\\x00c\\x7fd"),
    ("x\x9b2Jy", "x\\x9b2Jy"),  # 8-bit CSI
    ("abc\u202efdp.exe", "abc⟨U+202E⟩fdp.exe"),  # right-to-left override
    ("u\u200b1", "u⟨U+200B⟩1"), ("\ufeffu1", "⟨U+FEFF⟩u1"),
])
def test_controls_and_invisible_characters_are_shown(raw, shown):
    assert inert(raw) == shown


def test_ordinary_text_in_any_script_is_unchanged():
    for s in ("Mozilla/5.0 (Linux; Android 13)", "北京", "Zürich", "مرحبا", "a\tb", "", "[bold]x[/bold]"):
        assert inert(s) == s


def test_report_md_text_is_inert():
    from fraud.report.markdown import code, md

    assert md("dev\x1bc\u202e") == "dev\\\\x1bc⟨U+202E⟩"  # the backslash itself escaped for Markdown
    assert code("dev\x1bc") == "`dev\\x1bc`"
