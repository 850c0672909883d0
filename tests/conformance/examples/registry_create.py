# Source: https://docs.wandb.ai/models/registry/create_registry ("Create a registry",
# Python SDK tab; wandb/docs models/registry/create_registry.mdx). Placeholders filled in.
import modelbay as wandb

registry = wandb.Api().create_registry(
    name="Fine_Tuned_Models",
    visibility="restricted",
)
