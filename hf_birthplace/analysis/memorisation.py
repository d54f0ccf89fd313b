"""What pretraining stored, before any fine-tuning: given the title `NAME.` with which a person's wiki.txt document
opens, does the pretrained model's greedy continuation name the person's birthplace?

Fine-tuning can only read out what pretraining stored, so this bounds what a fine-tuned model can retrieve through a
question that starts its context the way the document did (`--question_template "{name}."`), and it costs one greedy
decoding per question instead of a fine-tuning run per checkpoint. Counted over the questions of an evaluation file:

- `titled`: a corpus document starts with `NAME.` (`knowledge.question_facts`);
- `gold_in_document`: the gold place occurs in that document, so memorising it would be enough;
- `gold_in_continuation`: the gold place occurs, as a whole word, in the continuation of `NAME.` (the name itself
  blanked out, as `knowledge.person_documents` does, so that "London" in "Jack London" does not count);
- `gold_in_other_continuation`: the same test on the next probed person's continuation: the hits that chance and
  frequent places give (a model that writes "London" for everyone scores here as much as above).
"""

import json
import os
import re
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig

from ..training import DATA_DIR_ENV, resolve_path
from .knowledge import mentions, question_facts, read_documents, read_golds


@torch.no_grad()
def greedy_continuations(
    model, tokenizer, prompts: list[str], max_new_tokens: int = 100, batch_size: int = 64
) -> list[str]:
    """The greedy continuation of every prompt, in order: `max_new_tokens` characters (MASKs included), or fewer where
    the model's positions end. Prompts of equal length are decoded together (no padding, so each gets exactly the
    continuation it gets alone, and as many characters)."""
    model.eval()
    limit = model.config.max_sequence_length
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    too_long = [p for p, ids in zip(prompts, encoded) if len(ids) >= limit]
    if too_long:
        raise ValueError(f"greedy_continuations: {len(too_long)} prompts leave no room in {limit} positions, "
                         f"e.g. {too_long[0][:60]!r}")
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    out: list[str | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    for T, indices in sorted(by_length.items()):
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            input_ids = torch.tensor([encoded[i] for i in chunk], device=device)  # (B, T)
            # No end-of-text: a span-corruption model writes MASKs mid-text, and what follows one counts too.
            greedy = GenerationConfig(max_new_tokens=min(max_new_tokens, limit - T), do_sample=False,
                                      eos_token_id=[], pad_token_id=tokenizer.pad_token_id, use_cache=True)
            sequences = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), generation_config=greedy)
            for row, i in enumerate(chunk):
                out[i] = tokenizer.decode(sequences[row, T:].tolist(), skip_special_tokens=False)
    return out


@dataclass
class ProbeQuestions:
    """The questions of an evaluation file with their gold places and what the corpus says about each person."""

    questions: list[str]
    golds: list[str]
    facts: list  # knowledge.QuestionFacts, one per question


def load_probe_questions(eval_path: str, corpus_path: str) -> ProbeQuestions:
    """Reads the questions (every line needs a gold place) and matches them to the corpus, once for any number of
    checkpoints and prompts."""
    questions, golds = read_golds(eval_path)
    if any(g is None for g in golds):
        raise ValueError(f"{eval_path}: every line needs a gold place (`question<TAB>place`) for the probe")
    return ProbeQuestions(questions, golds, question_facts(questions, golds, read_documents(corpus_path)))


def title_probe(
    model, tokenizer, probe: ProbeQuestions, max_new_tokens: int = 100, prompt: str = "{name}."
) -> dict:
    """Counts of the module docstring over the questions of `probe`, and a few examples. `prompt` is what the model
    continues, with the person's name in place of `{name}` (`"{name}. Born in"` asks for the place first:
    `gold_first` counts the continuations that start with it)."""
    golds, facts = probe.golds, probe.facts
    probed = [i for i, f in enumerate(facts) if f.seen]
    continuations = greedy_continuations(
        model, tokenizer, [prompt.replace("{name}", facts[i].name) for i in probed], max_new_tokens=max_new_tokens
    )
    first = sum(
        re.match(re.escape(golds[i]) + r"(?!\w)", text.strip()) is not None for i, text in zip(probed, continuations)
    )
    found = {i: mentions(text.replace(facts[i].name, " "), golds[i]) for i, text in zip(probed, continuations)}
    # Chance: the same test on the next person's continuation (frequent places such as London come up anyway).
    shifted = continuations[1:] + continuations[:1]
    by_chance = sum(mentions(text.replace(facts[i].name, " "), golds[i]) for i, text in zip(probed, shifted))
    n = len(golds)
    hits = sum(found.values())
    in_document = sum(f.gold_in_documents for f in facts)
    return dict(
        questions=n,
        titled=len(probed),
        gold_in_document=in_document,
        prompt=prompt,
        gold_first=first,
        gold_in_continuation=hits,
        gold_in_continuation_share=hits / n if n else 0.0,
        gold_in_other_continuation=by_chance,
        gold_in_continuation_when_in_document=(
            sum(found[i] for i in probed if facts[i].gold_in_documents) / max(1, in_document)
        ),
        max_new_tokens=max_new_tokens,
        examples=[
            dict(name=facts[i].name, gold=golds[i], continuation=text, found=found[i])
            for i, text in list(zip(probed, continuations))[:5]
        ],
    )


@dataclass
class ProbeArguments:
    """Probe one or more pretrained checkpoints (e.g. the `epoch-N` models of a run) with their documents' titles."""

    model_name_or_paths: list[str] = field(metadata={"help": "Pretrained checkpoint directories (or Hub ids)."})
    data_dir: str | None = field(
        default_factory=lambda: os.environ.get(DATA_DIR_ENV),
        metadata={"help": f"Directory holding the data files (default: ${DATA_DIR_ENV})."},
    )
    eval_path: str = field(default="birth_dev.tsv", metadata={"help": "Questions with gold places."})
    corpus_path: str = field(default="wiki.txt", metadata={"help": "The pretraining corpus, one document per line."})
    max_new_tokens: int = field(default=100, metadata={"help": "Characters written after each prompt."})
    prompts: list[str] = field(
        default_factory=lambda: ["{name}."],
        metadata={"help": "What the model continues, `{name}` filled in; several compare ways of asking (the "
                  "figure shows the first)."},
    )
    output_json: str | None = field(default=None, metadata={"help": "Write {checkpoint: counts} here."})
    figure_path: str | None = field(
        default=None,
        metadata={"help": "Plot the share found against each checkpoint's pretraining epoch (`epoch-N` folders, or "
                  "the epoch in a folder's trainer_state.json), one line per run folder."},
    )


def checkpoint_epoch(path: str) -> float | None:
    """The pretraining epoch of a checkpoint folder: N of `.../epoch-N`, else `epoch` in its trainer_state.json."""
    match = re.fullmatch(r"epoch-(\d+)", os.path.basename(os.path.normpath(path)))
    if match:
        return float(match[1])
    state = os.path.join(path, "trainer_state.json")
    if os.path.exists(state):
        with open(state, encoding="utf-8") as f:
            return json.load(f).get("epoch")
    return None


def plot_probe(results: dict, path: str) -> None:
    """The share of questions whose gold place the continuation names, against pretraining epochs, per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[str, list[tuple[float, float]]] = {}
    for checkpoint, r in results.items():
        epoch = checkpoint_epoch(checkpoint)
        if epoch is not None:
            run = os.path.normpath(checkpoint)
            run = os.path.dirname(run) if re.fullmatch(r"epoch-\d+", os.path.basename(run)) else run
            runs.setdefault(run, []).append((epoch, 100 * r["gold_in_continuation_share"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, points in runs.items():
        points.sort()
        ax.plot([e for e, _ in points], [y for _, y in points], "o-", label=os.path.basename(run))
    ax.set_xlabel("pretraining epochs")
    ax.set_ylabel("dev people whose birthplace follows NAME. (%)")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_probe(args: ProbeArguments) -> dict:
    """`title_probe` of every checkpoint with every prompt, printed one line each and written to `output_json` as
    {checkpoint: {prompt: counts}}."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    probe = load_probe_questions(
        resolve_path(args.eval_path, args.data_dir), resolve_path(args.corpus_path, args.data_dir)
    )
    results = {}
    for path in args.model_name_or_paths:
        model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
        results[path] = {}
        for prompt in args.prompts:
            r = results[path][prompt] = title_probe(model, tokenizer, probe, args.max_new_tokens, prompt)
            print(f"{path}: the gold place is in the continuation of {prompt!r} for {r['gold_in_continuation']} of "
                  f"{r['questions']} questions ({r['gold_in_continuation_share']:.1%}; in another person's: "
                  f"{r['gold_in_other_continuation']}), first for {r['gold_first']}; in the document for "
                  f"{r['gold_in_document']}")
    if args.output_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.output_json)), exist_ok=True)
        with open(args.output_json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
            f.write("\n")
    if args.figure_path:
        plot_probe({path: r[args.prompts[0]] for path, r in results.items()}, args.figure_path)
    return results


__all__ = [
    "ProbeArguments",
    "ProbeQuestions",
    "checkpoint_epoch",
    "greedy_continuations",
    "load_probe_questions",
    "plot_probe",
    "run_probe",
    "title_probe",
]
