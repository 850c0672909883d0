# Source: https://docs.wandb.ai/models/ref/python/public-api/team (Team, "Look up a team and
# invite a member"), after W&B's documented Api.create_team and Api.create_user calls that
# make the team and the user it invites. Unchanged but the import line.
import modelbay as wandb

api = wandb.Api()
api.create_team("my-team")
api.create_user("user@example.com")

api = wandb.Api()
team = api.team("my-team")
team.invite("user@example.com")
