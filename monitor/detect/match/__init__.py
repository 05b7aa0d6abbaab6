"""Detection, first half: fold text, find entities and terms, evaluate rules.

``compile_pack`` turns watchlist and rule files into a ``Pack`` once at start-up; per story,
``pack.match(story)`` gives the hits and ``monitor.detect.assess.assess`` the verdict. Modules:
``normalise`` (folding with offsets), ``gazetteer`` (entities, Aho-Corasick, boundaries),
``terms`` (term lists), ``morph`` (Korean particles, Russian endings), ``evidence`` (word and
sentence positions), ``rules`` (evaluating the rule language), ``rule_parser`` (compiling rule
YAML), ``pack`` (compiling it all).
"""

from __future__ import annotations

from monitor.detect.match.pack import Pack, compile_pack

__all__ = ["Pack", "compile_pack"]
