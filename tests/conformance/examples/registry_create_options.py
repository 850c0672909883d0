# Source: https://docs.wandb.ai/models/ref/python/public-api/api (Api.create_registry,
# "Examples"; the docstring of wandb/apis/public/api.py). Unchanged but the import line.
import modelbay as wandb

api = wandb.Api()
registry = api.create_registry(
    name="my-registry",
    visibility="restricted",
    organization="my-org",
    description="This is a test registry",
    artifact_types=["model"],
)
