# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Compare two runs")
# Changed: the import line; placeholders <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): the two runs the page compares.
paths = []
for config in (
    {"batch_size": 32, "n_conv_layers": 5, "optimizer": "rmsprop"},
    {"batch_size": 16, "n_conv_layers": 4, "optimizer": "adam"},
):
    with wandb.init(project="my-project", config=config) as setup_run:
        setup_run.log({"loss": 1.0})
    paths.append(f"my-team/my-project/{setup_run.id}")

import pandas as pd

api = wandb.Api()

# replace with your <entity>, <project>, and <run_id>
run1 = api.run(paths[0])
run2 = api.run(paths[1])


df = pd.DataFrame([run1.config, run2.config]).transpose()

df.columns = [run1.name, run2.name]
print(df[df[run1.name] != df[run2.name]])

# Check (not in the source).
assert sorted(df[df[run1.name] != df[run2.name]].index) == ["batch_size", "n_conv_layers", "optimizer"]
