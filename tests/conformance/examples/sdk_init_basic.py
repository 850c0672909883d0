# Source: wandb/docs models/runs/initialize-run.mdx ("Single run per process", basic.py)
# Changed: the import line; the comment-only body filled with a log call.
import modelbay as wandb

with wandb.init(entity="nico", project="awesome-project") as run:
    # Your training logice here
    run.log({"loss": 0.1})
