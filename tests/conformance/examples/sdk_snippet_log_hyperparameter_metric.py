# Source: wandb/docs snippets/en/_includes/code-examples/log_hyperparameter.py and snippets/en/_includes/code-examples/log_metric.py
# Changed: the import line; placeholder <project>; the two snippets one after the other.
"""Initializes a W&B run and logs hyperparameters."""
import modelbay as wandb

config = {
    "learning_rate": 0.01,
    "batch_size": 32,
    "optimizer": "adam",
}

with wandb.init(project="hyperparameters", config=config) as run:
    # Training and logging code goes here
    pass

"""Initializes a W&B run and logs a metric."""

with wandb.init(project="hyperparameters") as run:
    # Training and logging code goes here

    # Example of logging a metric
    run.log({"accuracy": 0.95})
