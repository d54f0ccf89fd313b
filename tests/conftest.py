"""Shared fixtures: a tiny corpus, its character tokenizer, tiny CharGPT configs for both attention variants."""

import os
from pathlib import Path

import pytest

from hf_birthplace import CharGPTConfig, build_char_tokenizer

TINY_CORPUS = (
    "Ann Lee. Ann Lee was born in Paris and wrote poems.\n"
    "Bob Ray. Bob Ray (1901-1980) was a painter from Oslo, Norway.\n"
    "Cyd Moe. Cyd Moe is a singer; she lives in Rome!\n"
    "Where was Cyd Moe born?\n"
)
ATTENTION_TYPES = ("vanilla", "synthesizer")


REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The real CS224N data (read-only): $HF_BIRTHPLACE_DATA_DIR, relative paths taken from the repo root; tests that
    need it skip when it is absent."""
    return REPO_ROOT / os.environ.get("HF_BIRTHPLACE_DATA_DIR", "../shared/data/cs224n-a5")


@pytest.fixture(scope="session")
def a5_data_dir() -> Path:
    path = data_dir()
    if not path.is_dir():
        pytest.skip(f"the CS224N data is not at {path} (set HF_BIRTHPLACE_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def tiny_corpus() -> str:
    return TINY_CORPUS


@pytest.fixture(scope="session")
def char_tokenizer(tiny_corpus):
    return build_char_tokenizer(tiny_corpus, model_max_length=16)


@pytest.fixture(scope="session")
def tiny_config_factory(char_tokenizer):
    """tiny_config_factory(attention_type, **overrides) -> a 2-layer, 32-wide CharGPTConfig over the tiny corpus."""

    def make(attention_type: str = "vanilla", **overrides) -> CharGPTConfig:
        kwargs = dict(
            vocab_size=len(char_tokenizer),
            block_size=16,
            n_layer=2,
            n_head=4,
            n_embd=32,
            attention_type=attention_type,
        )
        kwargs.update(overrides)
        return CharGPTConfig(**kwargs)

    return make


@pytest.fixture(params=ATTENTION_TYPES)
def attention_type(request) -> str:
    return request.param


@pytest.fixture
def tiny_config(tiny_config_factory, attention_type) -> CharGPTConfig:
    return tiny_config_factory(attention_type)
