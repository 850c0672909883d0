# Source: wandb/docs, "How do I log metrics on two different time scales?"
# (https://docs.wandb.ai/support/models/articles/how-do-i-log-metrics-on-two-time-scales)
# Changed: the import line.
import modelbay as wandb

with wandb.init() as run:
    run.define_metric("batch")
    run.define_metric("epoch")

    run.define_metric("train_accuracy", step_metric="batch")
    run.define_metric("val_accuracy", step_metric="epoch")
