"""Publishing to the Hub, offline: the repository folder, its model card, the upload through a fake Hub.

The checkpoints are tiny models taught three birthplaces in a few dozen steps and saved as the training workflow saves
them (weights, tokenizer, training_recipe.json, training_args.bin, trainer_state.json), a fine-tuned one beside the
pretrained folder it started from. Every HTTP request of huggingface_hub goes to an in-process fake Hub.
"""

import base64
import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
import torch
from huggingface_hub import ModelCard, constants
from huggingface_hub.utils._http import default_client_factory, set_client_factory
from transformers import AutoTokenizer, TrainerState
from transformers import Trainer as HfTrainer

from hf_birthplace import CharGPTForCausalLM, MASK_CHAR, build_char_tokenizer
from hf_birthplace.evaluation import EvalArguments, predict_places, run_evaluation
from hf_birthplace.hub import (
    CheckpointError,
    HubAuthError,
    HubUnreachableError,
    RepoIdError,
    ResultsError,
    _batching,
    build_model_card,
    checkpoint_files,
    push_to_hub,
    read_results,
    read_training_recipe,
    validate_repo_id,
    write_trainer_model_card,
)
from hf_birthplace.trainer import CharTrainer, FinetuningArguments, PretrainingArguments

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import push_to_hub as push_script  # noqa: E402

sys.path.pop(0)
from remote_code import run_without_hf_birthplace  # noqa: E402

FACTS = {"Ann Lee": "Paris", "Bob Ray": "Oslo", "Cyd Moe": "Rome"}
QUESTION = "Where was Ann Lee born?"
REPOSITORY_FILES = {
    "README.md",
    "config.json",
    "configuration_char_gpt.py",
    "generation_config.json",
    "model.safetensors",
    "modeling_char_gpt.py",
    "tokenizer.json",
    "tokenizer_config.json",
}


def save_run(folder: Path, model, tokenizer, stage: str, args, model_args: dict, data_args: dict, steps: int):
    """A checkpoint folder as the training workflow leaves it."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    recipe = {"stage": stage, "model_args": model_args, "data_args": data_args, "training_args": args.to_dict()}
    (folder / "training_recipe.json").write_text(json.dumps(recipe, indent=2))
    torch.save(args, folder / "training_args.bin")
    TrainerState(global_step=steps, log_history=[{"loss": 0.05, "step": steps, "epoch": 1.0}]).save_to_json(
        str(folder / "trainer_state.json")
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run ~10x faster on one thread when the machine's few cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_corpus, tiny_config_factory):
    """For each attention type: a "pretrained" checkpoint and the checkpoint fine-tuned from it (which knows FACTS),
    the dev metrics of the fine-tuned one (scripts/evaluate.py's JSON and predictions), and the original answer."""
    root = tmp_path_factory.mktemp("hub")
    (root / "wiki.txt").write_text(tiny_corpus)
    (root / "train.tsv").write_text("".join(f"Where was {n} born?\t{p}\n" for n, p in FACTS.items()))
    dev = root / "birth_dev.tsv"
    dev.write_text("".join(f"Where was {n} born?\t{p}\n" for n, p in [*FACTS.items(), ("Ann Lee", "London")]))
    tokenizer = build_char_tokenizer(tiny_corpus, model_max_length=64)
    out = {}
    for attention_type in ("vanilla", "synthesizer"):
        torch.manual_seed(0)
        config = tiny_config_factory(attention_type, block_size=64, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)
        model = CharGPTForCausalLM(config)
        pretrained, finetuned = root / f"{attention_type}.pretrain", root / f"{attention_type}.finetune"
        shape = {"attention_type": attention_type, "n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 64}
        data = {"data_dir": str(root), "corpus_path": "wiki.txt", "finetune_corpus_path": "train.tsv"}
        pretrain_args = PretrainingArguments(output_dir=str(pretrained), report_to="none", num_train_epochs=2)
        no_start = {**shape, "model_name_or_path": None}
        save_run(pretrained, model, tokenizer, "pretrain", pretrain_args, no_start, data, steps=2)

        # Fine-tuning, by hand: a few dozen full-batch steps teach the three answers.
        text = [f"Where was {n} born?{MASK_CHAR}{p}{MASK_CHAR}" for n, p in FACTS.items()]
        batch = tokenizer(text, padding=True, return_tensors="pt")
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(40):
            model(**batch, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        finetune_args = FinetuningArguments(
            output_dir=str(finetuned), report_to="none", num_train_epochs=40, learning_rate=1e-2, seed=7
        )
        model_args = {**shape, "model_name_or_path": str(pretrained)}
        save_run(finetuned, model, tokenizer, "finetune", finetune_args, model_args, data, steps=40)

        outputs = root / f"{attention_type}.dev.predictions"
        metrics = run_evaluation(
            EvalArguments(model_name_or_path=str(finetuned), eval_corpus_path=str(dev), outputs_path=str(outputs))
        )
        answer = predict_places(model, tokenizer, [QUESTION])[0].place
        out[attention_type] = SimpleNamespace(
            pretrained=pretrained,
            checkpoint=finetuned,
            results=Path(str(outputs) + ".metrics.json"),
            metrics=metrics,
            answer=answer,
        )
    return out


@pytest.fixture(scope="module")
def dry_runs(runs, tmp_path_factory):
    """The repository folder of every fine-tuned checkpoint, written by scripts/push_to_hub.py --dry_run."""
    folders = {}
    for attention_type, run in runs.items():
        folder = tmp_path_factory.mktemp("repo") / attention_type
        push_script.main(
            [
                str(run.checkpoint),
                "--repo_id",
                f"alice/char-gpt-{attention_type}",
                "--results",
                str(run.results),
                "--dry_run",
                str(folder),
                "--example_question",
                QUESTION,
            ]
        )
        folders[attention_type] = folder
    return folders


class FakeHub:
    """A stand-in for huggingface.co behind huggingface_hub's HTTP client: creates repositories, validates README
    metadata by parsing it, takes every file as a regular (non-LFS) upload and records each commit's files."""

    def __init__(self):
        self.requests, self.created, self.commits = [], [], []
        self.fail = None  # request -> httpx2.Response, or raises: every request fails this way

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if self.fail is not None:
            return self.fail(request)
        if path == "/api/repos/create":
            body = json.loads(request.content)
            self.created.append(body)
            return httpx2.Response(200, json={"url": f"https://huggingface.co/{body['organization']}/{body['name']}"})
        if path == "/api/validate-yaml":
            ModelCard(json.loads(request.content)["content"])  # raises on malformed metadata
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/main", path):
            files = json.loads(request.content)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return httpx2.Response(200, json={"files": modes})
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/main", path):
            lines = [json.loads(line) for line in request.content.decode().splitlines()]
            files = {x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"}
            self.commits.append((m.group(1), files))
            url = f"https://huggingface.co/{m.group(1)}/commit/0123abcd"
            return httpx2.Response(200, json={"commitUrl": url, "commitOid": "0123abcd"})
        return httpx2.Response(404, json={"error": f"the fake Hub does not serve {path}"})

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method != "GET"]


@pytest.fixture
def fake_hub(monkeypatch):
    hub = FakeHub()
    # CI sets HF_HUB_OFFLINE=1; the fake Hub is in-process, so let huggingface_hub talk to it.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
    yield hub
    set_client_factory(default_client_factory)


# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("repo_id", ["alice/char-gpt", "my-org/char_gpt.v2", "A1/x"])
def test_valid_repo_ids(repo_id):
    assert validate_repo_id(repo_id) == repo_id


@pytest.mark.parametrize(
    "repo_id, says",
    [
        ("char-gpt", "no namespace"),
        ("alice/char/gpt", "2 slashes"),
        ("https://huggingface.co/alice/char-gpt", "is a URL"),
        ("alice/char gpt", "not valid on the Hub"),
        ("alice/char--gpt", "not valid on the Hub"),
        ("alice/-gpt", "not valid on the Hub"),
        ("", "no repo id"),
    ],
)
def test_malformed_repo_ids_are_refused_before_any_request(repo_id, says, runs, fake_hub):
    with pytest.raises(RepoIdError, match=says) as error:
        push_to_hub(runs["vanilla"].checkpoint, repo_id, token="hf_test")
    assert "USER/NAME" in str(error.value)
    assert fake_hub.requests == []


def test_missing_files_are_named(runs, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(runs["vanilla"].checkpoint, folder)
    assert checkpoint_files(folder) == sorted(REPOSITORY_FILES - {"README.md"})
    (folder / "tokenizer.json").unlink()
    (folder / "modeling_char_gpt.py").unlink()
    with pytest.raises(CheckpointError) as error:
        checkpoint_files(folder)
    message = str(error.value)
    assert "missing modeling_char_gpt.py, tokenizer.json;" in message
    assert "tokenizer.save_pretrained" in message and "save_pretrained" in message
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        checkpoint_files(tmp_path / "nowhere")

    shutil.copytree(runs["vanilla"].checkpoint, folder, dirs_exist_ok=True)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"missing model.safetensors \(found pytorch_model.bin"):
        checkpoint_files(folder)
    (folder / "pytorch_model.bin").rename(folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    del config["auto_map"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="no auto_map entry for AutoModelForCausalLM"):
        checkpoint_files(folder)


def test_recipe_reads_both_stages(runs, tmp_path):
    pretraining, finetuning = read_training_recipe(runs["vanilla"].checkpoint)
    assert (pretraining.kind, finetuning.kind) == ("pretraining", "fine-tuning")
    assert finetuning.init_from == str(runs["vanilla"].pretrained)
    assert finetuning.training_args["learning_rate"] == 1e-2 and finetuning.global_step == 40
    assert pretraining.training_args["learning_rate"] == 6e-3  # PretrainingArguments' default: the original's

    # Without the JSON, the Trainer's own files still give the run (its class says which stage), not its start.
    folder = tmp_path / "ckpt"
    shutil.copytree(runs["vanilla"].checkpoint, folder)
    (folder / "training_recipe.json").unlink()
    (stage,) = read_training_recipe(folder)
    assert (stage.kind, stage.recorded_in) == ("fine-tuning", ["training_args.bin", "trainer_state.json"])
    assert stage.training_args == finetuning.training_args and stage.model_args is None


def test_results_files(runs, tmp_path):
    dev = read_results(runs["vanilla"].results)
    assert dev.accuracy == runs["vanilla"].metrics["accuracy"] and dev.total == 4
    assert dev.dataset_name == "birth_dev.tsv"  # named birth_dev.tsv, but not the course's file
    assert dev.answer_spread["total"] == 4 and dev.answer_spread["distinct_gold"] == 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"acc": 0.3}))
    with pytest.raises(ResultsError, match=r"expected an 'accuracy' between 0 and 1 .* found keys \['acc'\]"):
        read_results(bad)
    bad.write_text(json.dumps({"accuracy": 26.6}))
    with pytest.raises(ResultsError, match="found accuracy=26.6"):
        read_results(bad)
    with pytest.raises(ResultsError, match="no such results file"):
        read_results(tmp_path / "missing.json")


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_dry_run_folder_and_card(attention_type, runs, dry_runs):
    folder, run = dry_runs[attention_type], runs[attention_type]
    assert {p.name for p in folder.iterdir()} == REPOSITORY_FILES
    for name in REPOSITORY_FILES - {"README.md"}:
        assert (folder / name).read_bytes() == (run.checkpoint / name).read_bytes(), name

    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-generation"
    assert f"{attention_type}-attention" in card.data.tags
    (result,) = card.data.eval_results
    assert (result.task_type, result.metric_type, result.dataset_split) == ("question-answering", "accuracy", "dev")
    assert result.metric_value == pytest.approx(run.metrics["accuracy"], abs=1e-4)
    assert result.dataset_name == "birth_dev.tsv"
    assert card.data.to_dict()["model-index"][0]["name"] == f"char-gpt-{attention_type}"

    text = card.text
    assert ("synthesizer (the handout's eq. 5)" in text) == (attention_type == "synthesizer")
    assert "pretrained only" not in text
    assert "### Pretraining" in text and "### Fine-tuning" in text  # both stages of the recipe
    assert f"| Started from | `{run.pretrained}` |" in text
    assert "| Peak learning rate | 0.01 | 0.0006 |" in text and "| Peak learning rate | 0.006 | 0.006 |" in text
    assert "| Training file | `train.tsv` (not one of the course's files) |" in text
    assert "| Batches | length-grouped, shuffled | in the file's order, lengths mixed |" in text
    assert f"**{100 * run.metrics['accuracy']:.1f}%**" in text
    assert f'repo_id = "alice/char-gpt-{attention_type}"' in text
    assert f"This checkpoint answers `{run.answer}`" in text


def test_the_card_names_how_batches_were_formed():
    assert _batching({}) == "not recorded"
    assert _batching({"group_by_length": True, "train_sampling_strategy": "group_by_length"}) == "length-grouped, shuffled"
    assert _batching({"group_by_length": False, "train_sampling_strategy": "random"}) == "shuffled, lengths mixed"
    assert _batching({"group_by_length": False, "train_sampling_strategy": "sequential", "micro_batches": 8}) == (
        "in the file's order, lengths mixed, run as 8 length-sorted micro-batches"
    )


def test_the_course_dev_set_is_recognised_by_content(a5_data_dir):
    course = read_results({"accuracy": 0.266, "eval_corpus_path": str(a5_data_dir / "birth_dev.tsv")})
    assert course.dataset_name == "CS224N birth_dev"
    assert read_results({"accuracy": 0.266}).dataset_name == "CS224N birth_dev"  # results that do not say


def test_a_pretrained_only_checkpoint_says_so(runs):
    card = build_model_card(runs["synthesizer"].pretrained, repo_id="alice/char-gpt-pretrained")
    assert "**This checkpoint is pretrained only**" in card.text
    assert card.data.eval_results is None and "No evaluation results were given" in card.text


def card_example(readme: Path, repo_id: str, folder: Path) -> str:
    """The card's Python example, pointed at a local folder instead of the Hub repository."""
    (code,) = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    assert f'repo_id = "{repo_id}"' in code
    return code.replace(f'repo_id = "{repo_id}"', f"repo_id = {str(folder)!r}")


RUN_CARD_EXAMPLES = """
import contextlib, io, json
reports = {}
for path in sys.argv[1:]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(open(path, encoding="utf-8").read(), path, "exec"), {"__name__": "__main__"})
    reports[path] = out.getvalue()
reports["loaded_modules"] = sorted(m for m in sys.modules if m.startswith("hf_birthplace"))
print(json.dumps(reports))
"""


def test_card_example_runs_without_hf_birthplace_and_answers_as_the_checkpoint(runs, dry_runs, tmp_path):
    """The dry-run folder loads with AutoModelForCausalLM/AutoTokenizer + trust_remote_code where hf_birthplace cannot
    be imported, and the card's own example prints the answer that the original checkpoint gives."""
    scripts = {}
    for attention_type, folder in dry_runs.items():
        script = tmp_path / f"example_{attention_type}.py"
        script.write_text(card_example(folder / "README.md", f"alice/char-gpt-{attention_type}", folder))
        scripts[attention_type] = str(script)
    result = run_without_hf_birthplace(RUN_CARD_EXAMPLES, list(scripts.values()), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = json.loads(result.stdout.strip().splitlines()[-1])
    assert reports.pop("loaded_modules") == []
    for attention_type, script in scripts.items():
        assert reports[script] == runs[attention_type].answer + "\n", attention_type
    assert runs["vanilla"].answer == "Paris"  # the tiny model learnt its facts: the answer stopped at the MASK


def test_upload_sends_exactly_the_repository_files(runs, dry_runs, fake_hub):
    run = runs["vanilla"]
    url = push_to_hub(
        run.checkpoint,
        "alice/char-gpt-vanilla",
        private=True,
        results=run.results,
        token="hf_test",
        example_question=QUESTION,
    )
    assert url == "https://huggingface.co/alice/char-gpt-vanilla"
    assert fake_hub.created == [{"name": "char-gpt-vanilla", "organization": "alice", "visibility": "private"}]
    ((repo, files),) = fake_hub.commits
    assert repo == "alice/char-gpt-vanilla"
    expected = {name: (dry_runs["vanilla"] / name).read_bytes() for name in REPOSITORY_FILES}
    assert files == expected  # the same files, byte for byte, as the dry run; no trainer state, no pickles
    assert [path for _, path in fake_hub.writes] == [
        "/api/repos/create",
        "/api/validate-yaml",
        "/api/models/alice/char-gpt-vanilla/preupload/main",
        "/api/models/alice/char-gpt-vanilla/commit/main",
    ]


def test_upload_errors_say_what_to_do(runs, fake_hub, monkeypatch, tmp_path):
    checkpoint = runs["vanilla"].checkpoint

    fake_hub.fail = lambda request: httpx2.Response(401, json={"error": "Invalid credentials in Authorization header"})
    with pytest.raises(HubAuthError, match="401 Unauthorized") as error:
        push_to_hub(checkpoint, "alice/char-gpt", token="hf_expired")
    assert "hf auth login" in str(error.value) and "HF_TOKEN" in str(error.value)

    fake_hub.fail = lambda request: httpx2.Response(403, json={"error": "You don't have the rights"})
    with pytest.raises(HubAuthError, match="may not write to 'alice' \\(403 Forbidden\\)"):
        push_to_hub(checkpoint, "alice/char-gpt", token="hf_read_only")

    def unreachable(request):
        raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    fake_hub.fail = unreachable
    with pytest.raises(HubUnreachableError, match="could not reach the Hub at https://huggingface.co") as error:
        push_to_hub(checkpoint, "alice/char-gpt", token="hf_test")
    assert "--dry_run" in str(error.value)

    # No token anywhere: refused before any request.
    fake_hub.requests.clear()
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    with pytest.raises(HubAuthError, match="no Hugging Face token found: log in with `hf auth login`"):
        push_to_hub(checkpoint, "alice/char-gpt")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnreachableError, match="HF_HUB_OFFLINE is set"):
        push_to_hub(checkpoint, "alice/char-gpt", token="hf_test")
    assert fake_hub.requests == []


def test_script_prints_errors_without_traceback(runs, capsys):
    with pytest.raises(SystemExit) as exit_:
        push_script.main([str(runs["vanilla"].checkpoint), "--repo_id", "char-gpt", "--dry_run", "unused"])
    assert str(exit_.value).startswith("push_to_hub.py: error: repo id 'char-gpt' has no namespace")


class HookedTrainer(CharTrainer):
    """CharTrainer with the card hook (hf_birthplace.hub.write_trainer_model_card) in create_model_card."""

    def create_model_card(self, *args, **kwargs):
        write_trainer_model_card(self)


def test_trainer_push_to_hub_writes_the_same_card(runs, tiny_corpus, fake_hub, tmp_path):
    """`--push_to_hub --hub_model_id`: Trainer.push_to_hub uploads the card that scripts/push_to_hub.py writes."""
    trainer_class = CharTrainer if CharTrainer.create_model_card is not HfTrainer.create_model_card else HookedTrainer
    model = CharGPTForCausalLM.from_pretrained(runs["vanilla"].checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(runs["vanilla"].checkpoint)
    args = FinetuningArguments(
        output_dir=str(tmp_path / "run"),
        report_to="none",
        push_to_hub=True,
        hub_model_id="alice/pushed",
        hub_token="hf_test",
    )
    trainer = trainer_class(model=model, args=args, processing_class=tokenizer, tokens_per_example=63)
    trainer.push_to_hub()
    ((repo, files),) = fake_hub.commits
    assert repo == "alice/pushed"
    dry_run = tmp_path / "dry_run"
    push_to_hub(args.output_dir, "alice/pushed", dry_run=dry_run)
    assert files["README.md"].decode() == (dry_run / "README.md").read_text(encoding="utf-8")
    card = ModelCard(files["README.md"].decode())
    assert "### Fine-tuning" in card.text and "Recorded in `training_args.bin`, `trainer_state.json`." in card.text


def test_char_trainer_writes_the_hub_card():
    if CharTrainer.create_model_card is HfTrainer.create_model_card:
        pytest.skip(
            "CharTrainer.create_model_card is not hooked yet: it should call "
            "hf_birthplace.hub.write_trainer_model_card(self)"
        )
