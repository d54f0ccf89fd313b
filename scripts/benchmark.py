"""Speed of our training and evaluation paths against the original course code's way of working (issue 6).

In one process, on the same 4-layer model: (a) training throughput in non-padding target tokens/s through our
`CharTrainer`, each lever in its own short run, with the original's fixed-padding, eager, fp32 step interleaved on
the same examples; (b) the time to answer the dev questions, batched with a cache against one at a time without;
(c) peak memory, each workload in a fresh process; and a loss-curve check that the fast path learns what the plain
path learns. Prints markdown tables, writes the JSON (default docs/benchmark_results/DEVICE.json) and a PNG of the
loss curves beside it. The numbers and what each lever gave: docs/performance.md.

    # the full CPU benchmark (about 40 minutes on 2 busy cores); be kind to the other jobs
    nice -n 5 python scripts/benchmark.py --data_dir ../shared/data/cs224n-a5

    # a smoke test in seconds (tiny model, two variants, two steps each)
    python scripts/benchmark.py --quick --output_json /tmp/bench.json

    # some levers only
    python scripts/benchmark.py --variants fixed_padding grouped grouped_bf16 --skip_eval --loss_check_steps 0

    # on a GPU: bf16, SDPA, torch.compile, batches of 512 (skipped with a message when there is no GPU)
    python scripts/benchmark.py --device cuda

    # arguments from a file
    python scripts/benchmark.py my_benchmark.json
"""

import logging

from hf_birthplace.benchmark import BenchmarkArguments, run_benchmark
from hf_birthplace.training import parse_args


def main(args: list[str] | None = None) -> dict:
    (benchmark_args,) = parse_args((BenchmarkArguments,), args)
    # Progress lines ("benchmark: training variant ...") on stderr: a full run takes a while.
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    return run_benchmark(benchmark_args)


if __name__ == "__main__":
    main()
