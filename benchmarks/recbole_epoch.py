"""Times RecBole's NeuMF epochs on one atomic `.inter` file; run by recbole_side_by_side.py.

It runs under the Python of a separate environment with RecBole installed (RecBole is not one of
recsite's requirements), reads its settings as JSON on argv[1] and prints one JSON line:

    {"seconds": [s, ...], "positives": n, "loss": [l, ...], "recbole": "1.2.1", "torch": "..."}

Each epoch is RecBole's own `Trainer._train_epoch` over its training loader, which draws the
negatives as it goes, so a figure includes the sampling, as recsite's epochs do.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings


def main() -> None:
    settings = json.loads(sys.argv[1])
    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    torch.set_num_threads(settings["threads"])
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    config = Config(
        model="NeuMF",
        dataset=settings["dataset"],
        config_dict={
            "data_path": settings["data_path"],
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "user_inter_num_interval": "[0,inf)",
            "item_inter_num_interval": "[0,inf)",
            # Each user's last two interactions are validation and test, as in recsite's split.
            "eval_args": {
                "split": {"LS": "valid_and_test"},
                "order": "TO",
                "group_by": "user",
                "mode": "full",
            },
            "train_neg_sample_args": {
                "distribution": "uniform",
                "sample_num": settings["negatives"],
                "alpha": 1.0,
                "dynamic": False,
                "candidate_num": 0,
            },
            "train_batch_size": settings["batch_size"],
            "learning_rate": 0.001,
            # The paper's NeuMF, as recsite's default: GMF 8, MLP 64-32-16-8, no dropout.
            "mf_embedding_size": settings["gmf_dim"],
            "mlp_embedding_size": settings["mlp_layers"][0] // 2,
            "mlp_hidden_size": settings["mlp_layers"][1:],
            "dropout_prob": 0.0,
            "device": "cpu",
            "use_gpu": False,
            "show_progress": False,
            "checkpoint_dir": settings["checkpoint_dir"],
            "seed": settings["seed"],
            "reproducibility": True,
            "state": "CRITICAL",
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    train_data, _, _ = data_preparation(config, create_dataset(config))
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    seconds, losses = [], []
    for epoch in range(settings["epochs"]):
        start = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch, show_progress=False)
        seconds.append(time.perf_counter() - start)
        losses.append(float(loss))
    report = {
        "seconds": seconds,
        "loss": losses,
        "positives": len(train_data._dataset),
        "recbole": recbole.__version__,
        "torch": torch.__version__,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
