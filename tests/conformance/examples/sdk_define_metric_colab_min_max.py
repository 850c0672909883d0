# Source: wandb/examples colabs/wandb-log/Customize_metric_logging_with_define_metric.ipynb
# (cells 2, 3 and 5)
# Changed: the import line. The check at the end is not in the source.
import modelbay as wandb
import random

wandb.login()

random.seed(1)

# Start a new run
wandb.init(project="define-metric-demo", notes="min of loss, max of acc")

# For loss, capture the min value from history in summary
wandb.define_metric("loss", summary="min")

# For acc, capture the max value from history in summary
wandb.define_metric("acc", summary="max")

# Simulate a training loop where we're logging metrics
for i in range(10):
  log_dict = {
      "loss": random.uniform(0,1/(i+1)),
      "acc": random.uniform(1/(i+1),1),
  }
  wandb.log(log_dict)

# Check (not in the source).
assert list(wandb.summary["loss"]) == ["min"] and list(wandb.summary["acc"]) == ["max"]

# Mark the run as finished, useful in the context of Jupyter notebooks
wandb.finish()
