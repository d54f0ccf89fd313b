"""A small synthetic "world" that reproduces the CS224N birthplace experiment in minutes.

The real corpus (Wikipedia biographies) is not ours to ship, and its recipe takes hours without a
GPU. This module writes a stand-in with the same file formats and the same question: fictional
people with one-line biographies (``wiki.txt``), and ``Where was NAME born?<TAB>PLACE`` questions
(``train.tsv``, ``dev.tsv``, ``test.tsv``) whose dev and test people appear in the corpus but never
in the fine-tuning data. So a model can answer a dev question only with what it read during
pretraining, and the gap between a pretrained and a from-scratch model measures knowledge access.

Design choices, each for a reason:

- Every person has several biographies worded with different templates and in different orders.
  Allen-Zhu & Li ("Physics of Language Models, Part 3.1", 2023) found that facts become extractable
  by fine-tuning for people outside the fine-tuning set only when each person's facts appear in
  several differently-worded documents ("knowledge augmentation"); with one fixed biography per
  person the model memorises the text but fine-tuning cannot read it out.
- Each biography also names other places (where the person studied, worked, died), drawn from the
  same list as birthplaces, so the model must learn which of the places is the birthplace.
- Birthplaces follow a skewed (Zipf-like) distribution whose most frequent place holds about 11% of
  people: a majority-class baseline exists, as on the real data, yet stays far below what
  knowledge access gives. The train/dev/test split is stratified by birthplace so that every split
  sees the same distribution and the dev majority baseline is known in advance.
- Names are unique and built from syllables (first and last names are both unique), so a name
  identifies one person and no real person's facts are implied. Places are fictional too, so no
  real-world knowledge leaks in or out.
- The name and the birthplace come early in every biography: span corruption keeps only a random
  prefix of a document (of up to ``int(block_size * 7 / 8)`` characters), and a fact that sits past
  the cut is never seen.

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
        default=800,
        metadata={
            "help": "People in the world. Enough that fine-tuning sees a few hundred people (extraction "
            "generalises better with more) and dev accuracy is measured on about 200, few enough that "
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
        default=3,
        metadata={"help": "Fewest biographies per person (knowledge augmentation; see the module docstring)."},
    )
    max_docs: int = field(default=3, metadata={"help": "Most biographies per person."})
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
    surname: str
    pronoun: str  # "He" or "She"
    birthplace: str
    birth_year: str  # e.g. "1931", or "1931?" where the year is uncertain
    occupation: str
    study_place: str
    work_place: str
    death_place: str
    death_year: int


@dataclass
class World:
    config: WorldConfig
    places: list[str]  # most frequent birthplace first
    people: list[Person]
    documents: list[str]  # one biography per line of wiki.txt, "Name. Sentence ..."
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
# Biography templates. {N} full name, {S} surname (or full name), {He}/{he} pronoun, {P} birthplace,
# {Y} birth year, {D}/{Y2} death place/year, {U} study place, {W} work place, {O} occupation,
# {date} a day and month. The birthplace sits in the first ~50 characters of every template so that
# span corruption's random truncation keeps it most of the time (see the module docstring).

_TEMPLATES = [
    "Born in {P}, {S} studied in {U} and worked in {W}.",
    "{S} ({P}, {Y} - {D}, {Y2}) was {O}.",
    "A native of {P}, {S} became {O} in {W}.",
    "{S} was born in {P} in {Y} and died in {D}.",
    "{P}-born {O2} {S} lived in {W} and {U}.",
]


def _biography(template: str, p: Person, rng: random.Random) -> str:
    short = p.surname
    date = f"{rng.randint(1, 28)} {rng.choice(_MONTHS)}"
    sentence = template.format(
        N=p.name, S=short, He=p.pronoun, he=p.pronoun.lower(), P=p.birthplace, Y=p.birth_year,
        D=p.death_place, Y2=p.death_year, U=p.study_place, W=p.work_place, O=p.occupation, O2=p.occupation.split(" ")[1], date=date,
    )
    # Title first, as in every line of the original wiki.txt: "Name. Sentence ."
    return f"{p.name}. {sentence}"


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
    firsts = _unique_words(rng, config.n_people, _FIRST_ENDINGS, (2, 2), max_len=8, taken=taken)
    lasts = _unique_words(rng, config.n_people, _LAST_ENDINGS, (2, 2), max_len=10, taken=taken)

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
        others = [place for place in places if place != birthplace]
        birth_year = rng.randint(1820, 1990)
        # Some years are uncertain, written "1931?" as Wikipedia does; this also puts the question's "?"
        # into the corpus, whose characters alone make the vocabulary (as in the original).
        uncertain = rng.random() < 0.1
        people.append(Person(
            name=f"{first} {last}", surname=last, pronoun=rng.choice(["He", "She"]),
            birthplace=birthplace, birth_year=f"{birth_year}?" if uncertain else str(birth_year), occupation=rng.choice(_OCCUPATIONS),
            study_place=rng.choice(others), work_place=rng.choice(others), death_place=rng.choice(others),
            death_year=birth_year + rng.randint(30, 90),
        ))

    documents = []
    for p in people:
        n_docs = rng.randint(config.min_docs, config.max_docs)
        documents += [_biography(t, p, rng) for t in rng.sample(_TEMPLATES, n_docs)]
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
