"""A demo project to click through: a dataset, three training runs, a registered model."""

from __future__ import annotations

import math
import random
import tempfile
from pathlib import Path

from modelbay.errors import NotFoundError
from modelbay.names import registry_ref
from modelbay.settings import Settings

PROJECT = "models_quickstart"
COLLECTION = "MNIST"
MODEL_CARD = """# MNIST classifier

A small convolutional network trained on MNIST.

* **Inputs:** 28x28 grey-scale digits
* **Metric:** validation accuracy (`val/acc`)
"""


def seed(settings: Settings) -> bool:
    """Log the demo into ``settings``' store unless it is there; returns whether it seeded."""
    from modelbay.sdk.api import Api
    from modelbay.sdk.artifact import Artifact
    from modelbay.sdk.run import init

    api = Api(settings)
    try:
        api.collection(registry_ref("model", COLLECTION))
        return False
    except NotFoundError:
        pass
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prep = init(project=PROJECT, job_type="prepare-data", settings=settings)
        dataset = Artifact(
            "mnist", "dataset", description="MNIST, 60k training digits", metadata={"rows": 60000}
        )
        (work / "train.csv").write_text(
            "label,pixels\n" + "\n".join(f"{i % 10},..." for i in range(100))
        )
        dataset.add_file(work / "train.csv")
        prep.log_artifact(dataset)
        prep.finish()
        for n, lr in enumerate((0.1, 0.03, 0.01)):
            run = init(
                project=PROJECT,
                job_type="train",
                config={"lr": lr, "epochs": 30, "batch_size": 64},
                settings=settings,
            )
            run.use_artifact("mnist:latest")
            ceiling = 0.9 + 0.03 * n
            for step in range(30):
                acc = ceiling * (1 - math.exp(-(step + 1) / (4 + 2 * n))) + rng.uniform(-0.01, 0.01)
                run.log(
                    {
                        "train/loss": 2.3 * math.exp(-(step + 1) * lr * 3) + rng.uniform(0, 0.05),
                        "val/acc": acc,
                    }
                )
            (work / "model.h5").write_text(f"weights of run {n} (lr={lr})")
            run.link_model(
                work / "model.h5",
                COLLECTION,
                name="mnist-cnn",
                aliases=["candidate"] if n == 2 else None,
            )
            run.finish()
        collection = api.collection(registry_ref("model", COLLECTION))
        collection.update(description=MODEL_CARD, tags=["vision", "demo"])
        collection.set_alias("staging", "v2")
        collection.set_alias("production", "v1")
    return True
