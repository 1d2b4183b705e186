"""Text from the logs shown inert: ids, user agents, event and place names reach a reviewer's terminal
(``fraud scan``, ``fraud show``) and ``report.md``, where an escape sequence hidden in a log value could clear the
screen, forge lines or hide text, and a bidi override could reverse what follows it."""
from __future__ import annotations

import re

# C0 controls (but the tab), DEL and C1 controls: ESC starts the terminal's escape sequences, CSI (U+009B) and
# OSC (U+009D) are their 8-bit forms, a line break forges a line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Bidi marks, embeddings, overrides and isolates; zero-width characters and the BOM: invisible, or they reorder
# the text around them (what report.html's vis() shows as ⟨U+XXXX⟩ too).
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def inert(text: object) -> str:
    """``text`` with control characters as ``\\xNN`` and invisible or reordering characters as ``⟨U+XXXX⟩``; other
    text, whatever its script, unchanged."""
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", s)
