"""Answer "Where was X born?" by ranking the training file's places with a checkpoint's log-probabilities, the prompt
and the no-name prior's weight chosen on held-out training lines (see hf_birthplace/ranking.py).

    python scripts/rank_places.py --data_dir ../shared/data/cs224n-a5 \
        --model_name_or_path outputs/better_4x256/vanilla.pretrain --output_dir outputs/better_4x256/vanilla.rank \
        --prompts "{name}. Born in " "{name}. {name} was born in "
"""

from hf_birthplace.ranking import RankArguments, run_ranking
from hf_birthplace.training import parse_args


def main(args: list[str] | None = None) -> dict:
    (rank_args,) = parse_args((RankArguments,), args)
    return run_ranking(rank_args)


if __name__ == "__main__":
    main()
