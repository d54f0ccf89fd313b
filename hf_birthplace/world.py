"""A small synthetic "world" that reproduces the CS224N birthplace experiment in minutes.

The real corpus (Wikipedia biographies) is not ours to ship, and its recipe takes hours without a
GPU. This module writes a stand-in with the same file formats and the same question: fictional
people with one-sentence biographies, one per line (``wiki.txt``), and ``Where was NAME born?<TAB>PLACE`` questions
(``train.tsv``, ``dev.tsv``, ``test.tsv``) whose dev and test people appear in the corpus but never
in the fine-tuning data. So a model can answer a dev question only with what it read during
pretraining, and the gap between a pretrained and a from-scratch model measures knowledge access.

Design choices, each for a reason:

- Every person has several biographies worded with different templates. Allen-Zhu & Li ("Physics of
  Language Models, Part 3.1", 2023) found that facts become extractable by fine-tuning for people
  outside the fine-tuning set only when each person's facts appear in several differently-worded
  documents ("knowledge augmentation"); with one fixed biography per person the model memorises the
  text but fine-tuning cannot read it out.
- The name sits at many positions: a biography starts with the name, or with a few words before it
  ("The painter NAME was born in ...", "As records show, NAME ..."). The model has learned absolute
  position embeddings, like the original; when every document starts with its person's name (as
  wiki.txt's titles do) the model ties a person's facts to names read at positions 0-15 and cannot
  recall them for the name in "Where was NAME born?", which starts at position 10. Measured during
  development (4x64 model, 100 epochs of span corruption, 500 people): on title-first biographies the
  model completed "NAME. Born in" with the right place for 94% of dev people, "Hello. NAME. Born in"
  for 12%, and fine-tuning reached 16% dev accuracy at best; with the name at varied positions,
  48-53%, and 80% when pretraining also shifts position ids (``max_position_offset``, see
  ``hf_birthplace.data.PretrainDataset``).
- Some biographies name another place too ("... and later lived in X"), drawn from the same list
  afresh for every biography, so the model must learn which place is the birthplace while the other
  place adds no fact to memorise. (A first version gave each person a fixed study, work and death
  place stated in the biographies, and longer names; trained the same way it reached 16% dev
  accuracy where this design reaches 56-80%.)
- Birthplaces follow a skewed (Zipf-like) distribution whose most frequent place holds about 11% of
  people: a majority-class baseline exists, as on the real data, yet stays far below what
  knowledge access gives. The train/dev/test split is stratified by birthplace so that every split
  sees the same distribution and the dev majority baseline is known in advance.
- Names are unique and built from syllables (first and last names are both unique), so a name
  identifies one person and no real person's facts are implied. Places are fictional too, so no
  real-world knowledge leaks in or out.
- Biographies are one short sentence, with the birthplace early: span corruption keeps only a random
  prefix of a document (of up to ``int(block_size * 7 / 8)`` characters), and a fact past the cut is
  never seen; short documents also make each pretraining epoch cheap.

Everything is a pure function of :class:`WorldConfig` (seeded ``random.Random``), so the committed
files under ``data/world/`` are reproduced byte for byte by ``python scripts/make_world.py``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The question template of the original assignment's birth_places_train.tsv, birth_dev.tsv and
# birth_test_inputs.tsv.
QUESTION_TEMPLATE = "Where was {name} born?"

WIKI_FILE = "wiki.txt"
TRAIN_FILE = "train.tsv"
DEV_FILE = "dev.tsv"
TEST_FILE = "test.tsv"
CONFIG_FILE = "world_config.json"


@dataclass
class WorldConfig:
    """Every knob of the synthetic world; the defaults make the committed ``data/world/``."""

    seed: int = field(default=0, metadata={"help": "Seed of the one random.Random that draws everything."})
    n_people: int = field(
        default=500,
        metadata={
            "help": "People in the world. Enough that fine-tuning sees a few hundred people (extraction "
            "generalises better with more) and dev accuracy is measured on over a hundred, few enough that "
            "pretraining on every biography takes minutes on a CPU."
        },
    )
    n_places: int = field(
        default=40,
        metadata={"help": "Distinct places (birthplaces and the other places both come from this list)."},
    )
    zipf_exponent: float = field(
        default=0.6,
        metadata={
            "help": "Birthplace k (1-based) gets weight k**-zipf_exponent. 0.6 over 40 places gives the most "
            "frequent place about 11%: a majority baseline that exists but stays far below 15%."
        },
    )
    min_docs: int = field(
        default=4,
        metadata={"help": "Fewest biographies per person (knowledge augmentation; see the module docstring)."},
    )
    max_docs: int = field(default=4, metadata={"help": "Most biographies per person."})
    dev_fraction: float = field(
        default=0.25,
        metadata={"help": "Share of each birthplace's people whose question goes to dev.tsv."},
    )
    test_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of each birthplace's people whose question (without answer) goes to test.tsv."},
    )

    def __post_init__(self):
        if self.n_places < 2 or self.n_people < self.n_places:
            raise ValueError(
                f"hf_birthplace/world.py: WorldConfig needs 2 <= n_places <= n_people, "
                f"got n_places={self.n_places}, n_people={self.n_people}"
            )
        if not 1 <= self.min_docs <= self.max_docs <= len(_TEMPLATES):
            raise ValueError(
                f"hf_birthplace/world.py: WorldConfig needs 1 <= min_docs <= max_docs <= {len(_TEMPLATES)} "
                f"(the number of templates), got min_docs={self.min_docs}, max_docs={self.max_docs}"
            )
        if not (0 <= self.dev_fraction and 0 <= self.test_fraction and self.dev_fraction + self.test_fraction < 1):
            raise ValueError(
                f"hf_birthplace/world.py: WorldConfig needs dev_fraction + test_fraction < 1, "
                f"got {self.dev_fraction} + {self.test_fraction}"
            )


@dataclass
class Person:
    name: str
    birthplace: str
    birth_year: str  # e.g. "1931", or "1931?" where the year is uncertain
    occupation: str


@dataclass
class World:
    config: WorldConfig
    places: list[str]  # most frequent birthplace first
    people: list[Person]
    documents: list[str]  # one biography per line of wiki.txt
    train: list[Person]
    dev: list[Person]
    test: list[Person]

    def wiki_text(self) -> str:
        return "".join(doc + "\n" for doc in self.documents)

    def tsv_text(self, split: str) -> str:
        """``Where was NAME born?<TAB>PLACE`` lines; the test split holds questions only, as in the original."""
        people = {"train": self.train, "dev": self.dev, "test": self.test}[split]
        if split == "test":
            return "".join(QUESTION_TEMPLATE.format(name=p.name) + "\n" for p in people)
        return "".join(f"{QUESTION_TEMPLATE.format(name=p.name)}\t{p.birthplace}\n" for p in people)

    def majority_place(self) -> str:
        """The most frequent birthplace among the fine-tuning people: the majority-class prediction."""
        counts: dict[str, int] = {}
        for p in self.train:
            counts[p.birthplace] = counts.get(p.birthplace, 0) + 1
        return max(counts, key=lambda place: (counts[place], -self.places.index(place)))

    def majority_accuracy(self, split: str = "dev") -> float:
        people = {"train": self.train, "dev": self.dev, "test": self.test}[split]
        guess = self.majority_place()
        return sum(p.birthplace == guess for p in people) / len(people)


# ---------------------------------------------------------------------------------------------
# Names. Syllables are written so that names read as names in no particular real language.

# "w" is there so that the question's "W" is in the corpus vocabulary (see _biography for "?").
_ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "dr", "gr", "kr", "tr", "st", "th", "sh", "ch", "vl", "zh", "sk"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou", "ia"]
_CODAS = ["", "", "", "n", "r", "l", "s", "m", "k"]
_FIRST_ENDINGS = ["", "", "", "a", "o", "en", "is", "el"]
_LAST_ENDINGS = ["", "", "ov", "ski", "ton", "ato", "berg", "ley", "ard", "ic", "sen"]
_PLACE_ENDINGS = ["ford", "holm", "vale", "port", "grad", "ia", "wick", "stad", "ora", "burg"]

# With their article, so that templates read "is a painter", "is an engineer".
_OCCUPATIONS = ["a painter", "a poet", "a chemist", "a novelist", "a sculptor", "a physician", "an architect",
                "a composer", "a lawyer", "an engineer", "a historian", "a botanist", "a journalist", "a diplomat",
                "an astronomer", "a violinist", "a surgeon", "an economist", "a philosopher", "a pianist"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


def _syllable(rng: random.Random, coda: bool) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if coda else "")


def _word(rng: random.Random, n_syllables: int, endings: list[str]) -> str:
    word = "".join(_syllable(rng, coda=(i == n_syllables - 1)) for i in range(n_syllables))
    return (word + rng.choice(endings)).capitalize()


def _unique_words(rng: random.Random, n: int, endings: list[str], syllables: tuple[int, int],
                  max_len: int, taken: set[str]) -> list[str]:
    words: list[str] = []
    while len(words) < n:
        word = _word(rng, rng.randint(*syllables), endings)
        # Prefixes are excluded too so that no name is the start of another: greedy decoding of a place
        # cannot stop early on a shorter valid answer, and a name never hides inside another one.
        if len(word) <= max_len and not any(word.startswith(w) or w.startswith(word) for w in taken):
            taken.add(word)
            words.append(word)
    return words


# ---------------------------------------------------------------------------------------------
# Biographies. {N} full name, {P} birthplace, {Y} birth year, {O} occupation with its article, {O2} without,
# {date} a day and month, {X} another place drawn afresh for each biography. Every template names the person
# in full and states the birthplace within its first ~60 characters, so span corruption's random truncation
# keeps it most of the time (see the module docstring).

_TEMPLATES = [
    "{N} was born in {P}.",
    "{N} (born {Y} in {P}) was {O}.",
    "{N}, born in {P}, was {O}.",
    "{N} came from {P}.",
    "{N} is a native of {P}.",
    "{N} was born on {date} {Y} in {P}.",
    "{N} was born in {P} and later lived in {X}.",
    "Born in {P}, {N} was {O}.",
]

# Words put before a template that starts with the name, so that the name sits at many positions (see the
# module docstring: a model with learned absolute positions that always reads a name at the same position
# ties what it learns about the person to that position, and cannot read it out of a question).
_OPENERS = ["", "", "In {Y}, ", "The {O2} ", "As records show, ", "Famously, ", "The {O2} and writer "]


def _biography(template: str, p: Person, places: list[str], rng: random.Random) -> str:
    fields = dict(
        N=p.name, P=p.birthplace, Y=p.birth_year, O=p.occupation, O2=p.occupation.split(" ")[1],
        date=f"{rng.randint(1, 28)} {rng.choice(_MONTHS)}", X=rng.choice([q for q in places if q != p.birthplace]),
    )
    opener = rng.choice(_OPENERS) if template.startswith("{N}") else ""
    text = (opener + template).format(**fields)
    return text[0].upper() + text[1:]


def _stratified_split(rng: random.Random, people: list[Person], places: list[str], config: WorldConfig):
    """Split each birthplace's people into train/dev/test by the configured shares (largest remainder)."""
    by_place: dict[str, list[Person]] = {place: [] for place in places}
    for p in people:
        by_place[p.birthplace].append(p)
    train, dev, test = [], [], []
    for place in places:
        group = by_place[place]
        n_dev = round(len(group) * config.dev_fraction)
        n_test = round(len(group) * config.test_fraction)
        dev += group[:n_dev]
        test += group[n_dev:n_dev + n_test]
        train += group[n_dev + n_test:]
    for split in (train, dev, test):
        rng.shuffle(split)
    return train, dev, test


def make_world(config: WorldConfig | None = None) -> World:
    """Draw the whole world from ``config.seed``; the same config always gives the same world."""
    config = config or WorldConfig()
    rng = random.Random(config.seed)
    taken: set[str] = set()
    places = _unique_words(rng, config.n_places, _PLACE_ENDINGS, (1, 2), max_len=10, taken=taken)
    firsts = _unique_words(rng, config.n_people, _FIRST_ENDINGS, (2, 2), max_len=7, taken=taken)
    lasts = _unique_words(rng, config.n_people, _LAST_ENDINGS, (2, 2), max_len=8, taken=taken)

    # Birthplaces by exact quota (largest remainder over Zipf weights), then shuffled, so the skew is
    # the configured one and not a sampling accident.
    weights = [(k + 1) ** -config.zipf_exponent for k in range(config.n_places)]
    total = sum(weights)
    quotas = [config.n_people * w / total for w in weights]
    counts = [math.floor(q) for q in quotas]
    for k in sorted(range(config.n_places), key=lambda k: counts[k] - quotas[k])[: config.n_people - sum(counts)]:
        counts[k] += 1
    birthplaces = [place for place, c in zip(places, counts) for _ in range(c)]
    rng.shuffle(birthplaces)

    people = []
    for first, last, birthplace in zip(firsts, lasts, birthplaces):
        birth_year = rng.randint(1820, 1990)
        # Some years are uncertain, written "1931?" as Wikipedia does; this also puts the question's "?"
        # into the corpus, whose characters alone make the vocabulary (as in the original).
        uncertain = rng.random() < 0.1
        people.append(Person(
            name=f"{first} {last}", birthplace=birthplace, birth_year=f"{birth_year}?" if uncertain else str(birth_year),
            occupation=rng.choice(_OCCUPATIONS),
        ))

    documents = []
    for p in people:
        n_docs = rng.randint(config.min_docs, config.max_docs)
        documents += [_biography(t, p, places, rng) for t in rng.sample(_TEMPLATES, n_docs)]
    # Shuffled so that a person's biographies are spread over the corpus, not adjacent lines.
    rng.shuffle(documents)

    train, dev, test = _stratified_split(rng, people, places, config)
    return World(config=config, places=places, people=people, documents=documents, train=train, dev=dev, test=test)


def write_world(world: World, out_dir: str | Path) -> dict[str, Path]:
    """Write wiki.txt, train.tsv, dev.tsv, test.tsv and world_config.json; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        WIKI_FILE: world.wiki_text(),
        TRAIN_FILE: world.tsv_text("train"),
        DEV_FILE: world.tsv_text("dev"),
        TEST_FILE: world.tsv_text("test"),
        CONFIG_FILE: json.dumps(asdict(world.config), indent=2) + "\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = out / name
        # newline="" so the bytes are the same on every platform (the test compares them).
        with open(paths[name], "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return paths
