# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Export metrics from all runs in a project to a CSV file")
# Changed: the import line; placeholders <entity> and <project>.
import modelbay as wandb

# Setup (not in the source): a project with a few runs.
for lr in (0.1, 0.01, 0.001):
    with wandb.init(project="my-project", config={"lr": lr, "_internal": 1}) as setup_run:
        setup_run.log({"acc": 1 - lr})

import pandas as pd

api = wandb.Api()
entity, project = "my-team", "my-project"
runs = api.runs(entity + "/" + project)

summary_list, config_list, name_list = [], [], []
for run in runs:
    # .summary contains the output keys/values
    #  for metrics such as accuracy.
    #  We call ._json_dict to omit large files
    summary_list.append(run.summary._json_dict)

    # .config contains the hyperparameters.
    #  We remove special values that start with _.
    config_list.append({k: v for k, v in run.config.items() if not k.startswith("_")})

    # .name is the human-readable name of the run.
    name_list.append(run.name)

runs_df = pd.DataFrame(
    {"summary": summary_list, "config": config_list, "name": name_list}
)

runs_df.to_csv("project.csv")

# Check (not in the source).
assert len(runs_df) == 3 and all("_internal" not in c for c in config_list)
assert sorted(s["acc"] for s in summary_list) == [0.9, 0.99, 0.999]
