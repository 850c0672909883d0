# Source: https://docs.wandb.ai/models/ref/python/public-api/registry
# (Registry.remove_members, "Examples"), after W&B's documented Api.create_registry,
# Api.create_user, Api.create_team and Registry.add_members calls that make the members it
# removes. Unchanged but the import line.
import modelbay as wandb

api = wandb.Api()
api.create_registry(name="my-registry", visibility="restricted")
api.create_user("some-user@example.com")
api.create_user("other-user@example.com")
api.create_team("old-team")
api.registry("my-registry").add_members(
    api.user("some-user"), api.user("other-user"), api.team("old-team")
)

# Fetch an existing registry
registry = api.registry(name="my-registry", organization="my-org")

user1 = api.user(username="some-user")
user2 = api.user(username="other-user")
registry.remove_members(user1, user2)

old_team = api.team(name="old-team")
registry.remove_members(old_team)
