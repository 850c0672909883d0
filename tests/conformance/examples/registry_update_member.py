# Source: https://docs.wandb.ai/models/ref/python/public-api/registry
# (Registry.update_member, "Make all users in the registry admins"), after W&B's documented
# Api.create_registry, Api.create_user and Registry.add_members calls that give the
# registry users. Unchanged but the import line.
import modelbay as wandb

api = wandb.Api()
api.create_registry(name="my-registry", visibility="restricted")
api.create_user("some-user@example.com")
api.registry("my-registry").add_members(api.user("some-user"))

# Fetch an existing registry
registry = api.registry(name="my-registry", organization="my-org")

for member in registry.user_members():
    registry.update_member(member.user, role="admin")
