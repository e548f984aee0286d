"""Close matches for keys people mistype: `action plans` for `action-plans`, `er-visit` for `er-visits`.

Pure functions over (key, name) pairs, so indicators and goals share them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

# How alike two spellings must be (difflib's ratio) to be offered as "did you mean".
CUTOFF = 0.6
MAX_SUGGESTIONS = 3
MARGIN = 0.15
# How many words may be run together into one key (`home visits` → `home-visits`).
MAX_JOINED_WORDS = 4
_NUMBER = re.compile(r"^[\-+−]?[\d.,]+%?$")


def _squashed(text: str) -> str:
    """A spelling without case, spaces, hyphens or underscores: `Action plans` and `action-plans` agree."""
    return re.sub(r"[\s\-_]+", "", text.strip().lower())


def close_keys(text: str, entries: Sequence[tuple[str, str]]) -> list[str]:
    """The keys of the entries whose key or name is close to `text`, the closest first (at most three)."""
    wanted = _squashed(text)
    if not wanted:
        return []
    scored: dict[str, float] = {}
    for key, name in entries:
        for spelling in (key, name):
            candidate = _squashed(spelling)
            if not candidate:
                continue
            ratio = difflib.SequenceMatcher(None, wanted, candidate).ratio()
            # A name is long: a word of it typed alone (`asthma`) is a match too.
            words = {_squashed(w) for w in re.split(r"[\s\-_,]+", spelling) if len(w) >= 4}
            if wanted in words:
                ratio = max(ratio, CUTOFF)
            if ratio >= CUTOFF:
                scored[key] = max(scored.get(key, 0.0), ratio)
    if not scored:
        return []
    # A much closer match makes the others noise: `er-vists` is `er-visits`, not also `home-visits`.
    best = max(scored.values())
    return sorted((k for k in scored if scored[k] >= best - MARGIN), key=lambda k: -scored[k])[:MAX_SUGGESTIONS]


def joined_key(words: Sequence[str], entries: Sequence[tuple[str, str]]) -> tuple[str, int] | None:
    """(key, words used) when the first two or more of `words`, run together, spell an entry's key or name.

    `["action", "plans", "62%"]` gives `("action-plans", 2)`. Numbers end the run: they are values.
    """
    by_spelling: dict[str, str] = {}
    for key, name in entries:
        by_spelling.setdefault(_squashed(key), key)
        by_spelling.setdefault(_squashed(name), key)
    run: list[str] = []
    for word in words[:MAX_JOINED_WORDS]:
        if _NUMBER.match(word):
            break
        run.append(word)
    for used in range(len(run), 1, -1):
        found = by_spelling.get(_squashed("".join(run[:used])))
        if found is not None:
            return found, used
    return None


def did_you_mean(keys: Sequence[str]) -> str:
    """` Did you mean `a`?` / ` Did you mean `a` or `b`?`, or nothing."""
    if not keys:
        return ""
    shown = [f"`{k}`" for k in keys]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f" Did you mean {listed}?"
