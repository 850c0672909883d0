# Source: wandb/docs snippets/en/_includes/code-examples/log_custom_summary_metric.py
# Changed: the import line; placeholders <project>, <metric_name>.
"""
Log a custom summary metric to W&B.
"""
import modelbay as wandb
import random

with wandb.init(project="summary-demo") as run:
    # Log a custom summary metric with a random integer value between 1 and 10
    run.summary["best_epoch"] = random.randint(1, 10)
