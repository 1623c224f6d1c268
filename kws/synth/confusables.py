"""Confusable words for a keyword, found in a pronouncing dictionary: the negatives a custom word
needs most ("bed": bad, bet, bid, head, ...; "happy": hap, happen, ...).

The dictionary is misaki's US lexicon (``us_gold``, ~90k common English words with phonemes,
Apache-2.0), which ships inside the PyPI package ``hibari-tts`` (the Kokoro engine's G2P; `pip install
-e '.[tts]'`, installed by tools/install.sh). A keyword the lexicon lacks is phonemized by hibari's
G2P. Phonemes are misaki's: one character each (diphthongs too), stress marks dropped. Candidates are
the lexicon's words that are also in SCOWL's small American English list (Debian ``wamerican-small``,
``/usr/share/dict/american-english-small``, permissive SCOWL license): common words a TTS voice says
as people do, not rare ones ("baaed", "stoep").

Candidates are ranked by a weighted edit distance between phoneme strings: changing a vowel into
another vowel, or a consonant into a consonant of the same kind (stop, fricative, nasal, ...) costs
0.5; any other change, insertion or deletion 1. Two more kinds are always offered: the keyword's
opening alone (a word that sounds like its first syllable(s): "hap" of "happy") and words that start
like the keyword and go on otherwise ("happen"). Words that sound exactly like the keyword
(homophones) are left out: they are the keyword to a listener.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from typing import Sequence

from kws.errors import UserError

VOWELS = frozenset("aeiouæɑɐɒɔəɛɜɪʊʌᵊᵻAIOWYQɚɝ")
_CONSONANT_CLASSES = ("pbtdkɡʔɾ", "fvθðszʃʒh", "ʧʤ", "mnŋ", "lɹ", "wj")
_CLASS_OF = {c: i for i, group in enumerate(_CONSONANT_CLASSES) for c in group}
_STRESS = str.maketrans("", "", "ˈˌ")
_WORD_RE = re.compile(r"^[a-z]{2,}$")
INSTALL_HINT = "pip install -e '.[tts]' (hibari-tts ships the lexicon), or bash tools/install.sh"
COMMON_WORDS = "/usr/share/dict/american-english-small"
"""SCOWL size 35 American English (Debian package wamerican-small)."""


@functools.lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The plain lower-case words of COMMON_WORDS."""
    if not os.path.isfile(COMMON_WORDS):
        raise UserError(f"confusable words need the common-word list {COMMON_WORDS}: apt-get install "
                        "wamerican-small (bash tools/install.sh does)")
    with open(COMMON_WORDS, encoding="utf-8") as f:
        return frozenset(w for w in f.read().split() if _WORD_RE.match(w))


def substitution_cost(a: str, b: str) -> float:
    """Cost of hearing phoneme ``a`` as ``b``."""
    if a == b:
        return 0.0
    if a in VOWELS and b in VOWELS:
        return 0.5
    if a in _CLASS_OF and _CLASS_OF.get(a) == _CLASS_OF.get(b):
        return 0.5
    return 1.0


def distance(a: str, b: str) -> float:
    """Weighted edit distance between two phoneme strings (insertion and deletion cost 1)."""
    previous = [float(j) for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        current = [float(i)]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1.0, current[j - 1] + 1.0,
                               previous[j - 1] + substitution_cost(x, y)))
        previous = current
    return previous[-1]


@functools.lru_cache(maxsize=1)
def lexicon() -> dict[str, str]:
    """Lower-case word -> phonemes (no stress marks) of every plain word in misaki's us_gold."""
    try:
        import hibari  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise UserError(f"confusable words need the hibari-tts lexicon: {INSTALL_HINT}") from e
    path = os.path.join(os.path.dirname(hibari.__file__), "assets", "lexicon_us_gold.json.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    table = {}
    for word, entry in raw.items():  # lower-case keys only: names and abbreviations are left out
        phonemes = entry.get("DEFAULT") if isinstance(entry, dict) else entry
        if isinstance(phonemes, str) and _WORD_RE.match(word):
            table[word] = phonemes.translate(_STRESS)
    return table


def phonemes(word: str) -> str:
    """The phonemes of ``word`` (a phrase's words joined): the lexicon's, else hibari's G2P."""
    table = lexicon()
    parts = word.replace("_", " ").split()
    if all(p in table for p in parts):
        return "".join(table[p] for p in parts)
    from hibari import g2p  # pylint: disable=import-outside-toplevel
    out = g2p.G2P(british=False)(" ".join(parts)).strip()
    out = out.translate(_STRESS).replace(" ", "")
    if not out:
        raise UserError(f"no pronunciation for {word!r}")
    return out


def confusable_words(word: str, count: int, exclude: Sequence[str] = ()) -> list[str]:
    """Up to ``count`` real words most likely to be heard as ``word``, closest first, with at least
    one opening-alone and one starts-alike word when the lexicon has them. ``exclude``: words not
    to offer (e.g. the other keywords, or words used elsewhere)."""
    if count < 1:
        return []
    target = phonemes(word)
    skip = {w.lower() for w in exclude} | set(word.split("_"))
    scored = []
    common = common_words()
    for candidate, sound in lexicon().items():
        if candidate not in common or candidate in skip or target in sound or abs(len(sound) - len(target)) > 3:
            continue  # homophones, and words holding the whole keyword (they contain it)
        scored.append((distance(target, sound), abs(len(sound) - len(target)), candidate, sound))
    scored.sort()
    cut = max(2, len(target) - 1)
    openings = [c for _, _, c, s in scored if len(target) >= 3 and 2 <= len(s) < len(target)
                and target.startswith(s)]
    alikes = [c for _, _, c, s in scored if len(s) >= len(target) and s[:cut] == target[:cut]]
    specials = list(dict.fromkeys(group[0] for group in (openings, alikes) if group))[:count]
    rank = {c: i for i, (_, _, c, _) in enumerate(scored)}
    rest = [c for _, _, c, _ in scored if c not in specials][:count - len(specials)]
    return sorted(specials + rest, key=rank.__getitem__)


def expand(words: Sequence[str], per_word: int, exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """``words`` followed by ``per_word`` confusables of each (none repeated, none of ``words`` or
    ``exclude``)."""
    out = list(words)
    for word in words:
        for extra in confusable_words(word, per_word, exclude=list(out) + list(exclude)):
            if extra not in out:
                out.append(extra)
    return tuple(out)
