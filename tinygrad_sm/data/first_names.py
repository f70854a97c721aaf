"""First names for a character-level language model: the 1990 US Census lists, shipped in the
package (names.txt; origin and licence in NAMES_LICENSE.txt). The function is ``data.names()``;
this module is not called ``names.py`` so that the function does not hide it."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

_NAMES_FILE = "names.txt"


@lru_cache(maxsize=1)
def _read_names() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath(_NAMES_FILE).read_text(encoding="ascii")
    return tuple(text.split())


def names() -> list[str]:
    """5,163 distinct lower-case first names (ASCII letters only), sorted alphabetically: the
    union of the 1990 US Census female and male first-name lists (public domain). A new list
    on every call, read from the package (no download).

    >>> words = names()
    >>> len(words), words[:3]
    (5163, ['aaron', 'abbey', 'abbie'])
    """
    return list(_read_names())
