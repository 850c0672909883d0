# Source: wandb/docs models/registry/organize-with-tags.mdx is for collections; this is the
# W&B SDK reference, wandb/docs models/ref/python/experiments/run.mdx (log_artifact: `tags`)
# as used in wandb/examples colabs/wandb-artifacts/WandB_Artifact_Tags.ipynb (cell 4)
# Changed: the import line; names and values.
import modelbay as wandb

with open("test_model.pt", "w") as f:
    f.write("{}")

run = wandb.init(project="artifacts-example", job_type="generate_artifacts")
at = wandb.Artifact(name="test_model_us-west-2_0", type="model")
at.add_file("test_model.pt")
arti = run.log_artifact(at, aliases=["latest", "candidate"], tags=["us-west-2", "Llama 3 Instruct - 70B"])
arti.wait()

# Check (not in the source).
assert sorted(arti.tags) == ["Llama 3 Instruct - 70B", "us-west-2"], arti.tags
assert sorted(arti.aliases) == ["candidate", "latest"], arti.aliases
run.finish()
