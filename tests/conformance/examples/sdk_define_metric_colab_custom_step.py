# Source: wandb/examples colabs/wandb-log/Customize_metric_logging_with_define_metric.ipynb
# (cells 2-4)
# Changed: the import line.
import modelbay as wandb
import random

wandb.login()

random.seed(1)

# Initalize a new run
wandb.init(project="define-metric-demo", notes="custom step")

# Define the custom x axis metric
wandb.define_metric("custom_step")

# Define which metrics to plot against that x-axis
wandb.define_metric("validation/loss", step_metric='custom_step')
for i in range(10):
  log_dict = {
      "train/loss": 1/(i+1),
      "custom_step": i**2,
      "validation/loss": 1/(i+1)
  }
  wandb.log(log_dict)

# Use this in the context of a jupyter notebook to mark a run finished
wandb.finish()
