# Source: wandb/docs models/runs/tags.mdx ("W&B Python SDK", both snippets)
# Changed: the import line; placeholders [ENTITY], [PROJECT], [TAG1], [TAG2], [NEW_TAG].
import modelbay as wandb

with wandb.init(
  entity="my-team",
  project="tags-demo",
  tags=["baseline", "preemptible"]
) as run:
    # Your training code here.
    run.log({"loss": 0.5})

with wandb.init(entity="my-team", project="tags-demo", tags=["baseline"]) as run:
  # Training loop logic here.

  # Add a new tag to the run object.
  run.tags += ("in_production",)

  # Check (not in the source).
  assert set(run.tags) == {"baseline", "in_production"}
