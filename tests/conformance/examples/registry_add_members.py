# Source: https://docs.wandb.ai/models/ref/python/public-api/registry (Registry.add_members,
# "Examples"), after W&B's documented Api.create_registry, Api.create_user and
# Api.create_team calls that make the registry, users and team the example names (a fresh
# store has none of them). Unchanged but the import line.
import modelbay as wandb

api = wandb.Api()
api.create_registry(name="my-registry", visibility="restricted")
api.create_user("some-user@example.com")
api.create_user("other-user@example.com")
api.create_team("my-team")

# Fetch an existing registry
registry = api.registry(name="my-registry", organization="my-org")

user1 = api.user(username="some-user")
user2 = api.user(username="other-user")
registry.add_members(user1, user2)

my_team = api.team(name="my-team")
registry.add_members(my_team)
