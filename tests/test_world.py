"""The synthetic world: reproducible, leak-free, and with a weak majority baseline."""

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from hf_birthplace.world import (
    CONFIG_FILE,
    DEV_FILE,
    TEST_FILE,
    TRAIN_FILE,
    WIKI_FILE,
    WorldConfig,
    make_world,
    write_world,
)

WORLD_DIR = Path(__file__).resolve().parents[1] / "data" / "world"


def read_tsv(path):
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def name_of(question):
    assert question.startswith("Where was ") and question.endswith(" born?"), question
    return question[len("Where was "):-len(" born?")]


@pytest.fixture(scope="module")
def world():
    return make_world()


def test_default_world_reproduces_committed_files(tmp_path):
    paths = write_world(make_world(WorldConfig()), tmp_path)
    for name in (WIKI_FILE, TRAIN_FILE, DEV_FILE, TEST_FILE, CONFIG_FILE):
        assert paths[name].read_bytes() == (WORLD_DIR / name).read_bytes(), (
            f"data/world/{name} differs from what `python scripts/make_world.py` writes; regenerate and commit it"
        )


def test_same_seed_same_world_other_seed_other_world():
    small = dict(n_people=60, n_places=6)
    assert make_world(WorldConfig(**small)).wiki_text() == make_world(WorldConfig(**small)).wiki_text()
    assert make_world(WorldConfig(**small)).wiki_text() != make_world(WorldConfig(seed=1, **small)).wiki_text()


def test_committed_config_is_the_default():
    assert json.loads((WORLD_DIR / CONFIG_FILE).read_text()) == asdict(WorldConfig())


def test_dev_and_test_people_never_in_train():
    train = {name_of(q) for q, _ in read_tsv(WORLD_DIR / TRAIN_FILE)}
    dev = {name_of(q) for q, _ in read_tsv(WORLD_DIR / DEV_FILE)}
    test = {name_of(q) for (q,) in read_tsv(WORLD_DIR / TEST_FILE)}
    assert train and dev and test
    assert not train & dev and not train & test and not dev & test


def documents_naming(name, documents):
    # Names are prefix-free (no word of the world starts another), so "name in document" finds exactly the
    # biographies of that person.
    return [doc for doc in documents if name in doc]


def test_every_question_person_has_biographies_that_state_the_answer():
    documents = (WORLD_DIR / WIKI_FILE).read_text(encoding="utf-8").splitlines()
    for split in (TRAIN_FILE, DEV_FILE):
        for question, place in read_tsv(WORLD_DIR / split):
            docs = documents_naming(name_of(question), documents)
            assert len(docs) >= WorldConfig().min_docs, f"{split}: {question} has {len(docs)} biographies"
            assert all(place in doc for doc in docs), f"{split}: {question} -> {place} not in every biography"


def test_majority_baseline_is_weak():
    train_places = Counter(place for _, place in read_tsv(WORLD_DIR / TRAIN_FILE))
    majority = train_places.most_common(1)[0][0]
    dev = read_tsv(WORLD_DIR / DEV_FILE)
    accuracy = sum(place == majority for _, place in dev) / len(dev)
    # A majority class exists (the skew is real) but stays far below what knowledge access gives.
    assert 0.05 <= accuracy <= 0.15


def test_questions_use_only_corpus_characters():
    # The vocabulary is built from wiki.txt alone, as in the original; a question character outside it
    # would be read as padding.
    corpus_chars = set((WORLD_DIR / WIKI_FILE).read_text(encoding="utf-8"))
    for split in (TRAIN_FILE, DEV_FILE, TEST_FILE):
        assert set((WORLD_DIR / split).read_text(encoding="utf-8")) - {"\t"} <= corpus_chars, split


def test_names_and_places_are_unique_and_prefix_free(world):
    names = [p.name for p in world.people]
    assert len(set(names)) == len(names)
    words = [word for name in names for word in name.split(" ")] + world.places
    assert len(set(words)) == len(words)
    # No word is the start of another: greedy decoding cannot stop early on a shorter valid place, and a
    # name found in a document is that person's.
    for a in words:
        assert not any(b != a and b.startswith(a) for b in words), a


def test_birthplace_comes_early_in_every_biography(world):
    # Span corruption keeps a random prefix of at most int(block_size * 7 / 8) characters; the birthplace
    # must sit early so that most truncations keep it (see data/README.md).
    limit = int(128 * 7 / 8)
    for p in world.people:
        docs = documents_naming(p.name, world.documents)
        assert len(docs) == world.config.min_docs
        for doc in docs:
            assert doc.index(p.birthplace) + len(p.birthplace) <= limit, doc


def test_names_sit_at_many_positions(world):
    # A name always read at the same position ties what the model learns about the person to that position
    # (see hf_birthplace/world.py); the question puts the name at position len("Where was ") = 10.
    positions = Counter(doc.index(p.name) for p in world.people for doc in documents_naming(p.name, world.documents))
    assert positions[0] < 0.6 * sum(positions.values())
    assert sum(n for position, n in positions.items() if 8 <= position <= 14) > 0.1 * sum(positions.values())
    assert max(positions) > 20


def test_bad_config_names_the_problem():
    with pytest.raises(ValueError, match="dev_fraction"):
        WorldConfig(dev_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError, match="min_docs"):
        WorldConfig(min_docs=4, max_docs=2)
