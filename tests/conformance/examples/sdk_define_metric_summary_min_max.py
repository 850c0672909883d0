# Source: wandb/docs models/track/log/log-summary.mdx ("Customize summary metrics")
# Changed: the import line. The check at the end is not in the source: it shows the summary
# holds W&B's min/max dict.
import modelbay as wandb
import random

random.seed(1)

with wandb.init() as run:
    # Min and max summary values for loss
    run.define_metric("loss", summary="min")
    run.define_metric("loss", summary="max")

    # Min and max summary values for accuracy
    run.define_metric("acc", summary="min")
    run.define_metric("acc", summary="max")

    for i in range(10):
        log_dict = {
            "loss": random.uniform(0, 1 / (i + 1)),
            "acc": random.uniform(1 / (i + 1), 1),
        }
        run.log(log_dict)

    # Check (not in the source).
    assert set(run.summary["loss"]) == {"min", "max"}, run.summary
    assert run.summary["loss"]["min"] <= run.summary["loss"]["max"]
