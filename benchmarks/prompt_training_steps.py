"""How the methods that learn per prompt move with their training steps (the config shrinks them to fit 2 cores).

    python benchmarks/prompt_training_steps.py [--results results/mini] [--dataset mini-ffhq] [--images 200]
                                               [--prompts 3] [--steps 50 200 800] [--kinds stylemc styleclip-lm]
                                               [--threads 1] [--json out.json]

For each kind (its settings from config/config.yaml, steps replaced) and step count it trains one
model per prompt (the first `--prompts` evaluation prompts), edits the first `--images` evaluation
images of `--dataset` with it and prints the training seconds per prompt, edit accuracy, preservation
and IDS (the workflow's own metrics, mini world). It reads the workflow's models (a finished mini run:
generator, CLIP, the loss identity net, the metric nets, the evaluation set and the training codes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow"))

from deltaspace.config import validate_config  # noqa: E402
from deltaspace.io.images import tensor_to_uint8  # noqa: E402
from deltaspace.io.shards import read_shard  # noqa: E402
from deltaspace.methods import build_method, method_kind  # noqa: E402
from deltaspace.methods.base import save_prompt_training  # noqa: E402
from deltaspace.metrics.registry import compute_metrics, load_metric_nets  # noqa: E402
from deltaspace.models.loading import load_generator_spec  # noqa: E402
from deltaspace.stages.editing import eval_batches, evaluation_tensors, first_rows, prompts_from_config  # noqa: E402

METRICS = ["edit_accuracy", "preservation", "ids"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/mini")
    parser.add_argument("--dataset", default="mini-ffhq")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--kinds", nargs="+", default=["stylemc", "styleclip-lm"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    r = Path(args.results)
    models = {"generator": {"format": "deltaspace", "checkpoint": str(r / "models/generator.pt")},
              "clip": {"format": "deltaspace", "checkpoint": str(r / "models/clip.pt"), "normalize": True}}
    inputs = {"identity_loss": str(r / "models/identity_loss_net.pt"),
              "codes": [str(r / f"codes/{d}/manifest.json") for d, ds in config["datasets"].items() if ds["train_count"]]}
    nets = load_metric_nets({"world": "mini", "attribute_net": str(r / "models/attribute_net.pt"),
                             "identity": str(r / "models/identity_net.onnx")})
    G, _ = load_generator_spec(models["generator"])
    table = first_rows(read_shard(r / f"evaluation/{args.dataset}.parquet"), args.images)
    data = evaluation_tensors(table, G, args.dataset)
    prompts = prompts_from_config(config["evaluation"]["prompts"][: args.prompts], config["editing"]["source"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind_name in args.kinds:
            entry = next(m for m in config["methods"].values() if m["kind"] == kind_name)
            kind = method_kind(kind_name)
            for steps in args.steps:
                settings = {k: v for k, v in entry.items() if k not in ("kind", "images")} | {"steps": steps}
                spec = {"name": kind_name, "kind": kind_name, "settings": settings, "inputs": inputs, **models}
                trained, seconds = {}, []
                for prompt in prompts:
                    start = time.perf_counter()
                    state, summary = kind.train(spec, prompt, config["seed"])
                    seconds.append(time.perf_counter() - start)
                    trained[prompt.target] = str(Path(tmp) / f"{kind_name}-{steps}-{prompt.name}.pt")
                    save_prompt_training(trained[prompt.target], spec, prompt, state, summary)
                method = build_method({**spec, "trained": trained})
                scores = []
                for prompt in prompts:
                    with torch.no_grad():
                        edited = np.concatenate([tensor_to_uint8(method.edit(b, prompt)) for b in eval_batches(data, 256)])
                    scores.append(compute_metrics(METRICS, data["pixels"], edited, nets, prompt)[0])
                row = {"kind": kind_name, "steps": steps, "train_s_per_prompt": round(float(np.mean(seconds)), 1),
                       **{m: round(float(np.mean([s[m] for s in scores])), 3) for m in METRICS}}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{'kind':14s} {'steps':>6s} {'train s':>8s} " + " ".join(f"{m:>13s}" for m in METRICS))
    for row in rows:
        print(f"{row['kind']:14s} {row['steps']:6d} {row['train_s_per_prompt']:8.1f} "
              + " ".join(f"{row[m]:13.3f}" for m in METRICS))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
