"""IMO ship numbers: seven digits whose last is a check digit, and how stories write them.

For watchlist authors and importers (an entity's ``imo:`` numbers are validated here, so a
mistyped number is a config error, not a silent miss) and for the gazetteer, which turns each
number into aliases (``IMO 9074729``, ``IMO No. 9074729``, ``IMO number 9074729``) so a story
naming a listed vessel by its number alone is matched to it.

The check digit: multiply the first six digits by 7, 6, 5, 4, 3, 2; the last digit of the sum
is the seventh digit (IMO resolution A.1078(28); 9074729: 63+0+35+16+21+4 = 139 -> 9).
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^\d{7}$")
# How sanctions lists and stories write the number: "IMO 9074729", "IMO: 9074729", "IMO No.".
IMO_IN_TEXT = re.compile(r"\bIMO(?:\s*(?:No\.?|number|nr\.?|#|:))?\s*(\d{7})\b", re.IGNORECASE)
_FORMS = (
    *("IMO {}", "IMO: {}", "IMO-{}", "IMO No {}", "IMO No. {}", "IMO No: {}"),
    *("IMO number {}", "IMO number: {}", "IMO nr {}", "IMO nr. {}", "IMO #{}"),
)


def valid_imo(number: str) -> bool:
    """Whether ``number`` is seven digits with a correct check digit."""
    if not _NUMBER.match(number):
        return False
    total = sum(
        int(digit) * weight for digit, weight in zip(number[:6], range(7, 1, -1), strict=True)
    )
    return total % 10 == int(number[6])


def imo_numbers(text: str) -> list[str]:
    """The valid IMO numbers written in ``text`` (``IMO 9074729; IMO No. 8912345``), in order."""
    found = (m.group(1) for m in IMO_IN_TEXT.finditer(text))
    return list(dict.fromkeys(n for n in found if valid_imo(n)))


def imo_aliases(number: str) -> list[str]:
    """The spellings of one number that the gazetteer matches (punctuation folds away)."""
    return [form.format(number) for form in _FORMS]
