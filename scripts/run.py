"""The original assignment's command line (`python src/run.py ...`), running on the HF workflows.

    python scripts/run.py finetune vanilla wiki.txt --writing_params_path vanilla.model.params \
        --finetune_corpus_path birth_places_train.tsv
    python scripts/run.py evaluate vanilla wiki.txt --reading_params_path vanilla.model.params \
        --eval_corpus_path birth_dev.tsv --outputs_path vanilla.nopretrain.dev.predictions
    python scripts/run.py pretrain vanilla wiki.txt --writing_params_path vanilla.pretrain.params

See `hf_birthplace.original_cli` for every flag.
"""

from hf_birthplace.original_cli import main

if __name__ == "__main__":
    main()
