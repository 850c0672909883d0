# Source: wandb/docs models/ref/python/public-api/api.mdx ("registries": "Pause iteration and resume later from the same position")
# Changed: the import line; page_size 10 -> 1 (the setup has few registries).
import modelbay as wandb

# Setup (not in the source): custom registries beside the core ones.
admin = wandb.Api()
for name in ("vision", "speech", "text"):
    admin.create_registry(name)

from itertools import islice

api = wandb.Api()

# Consume the first page of results, then save the cursor.
page_size = 1
registries = api.registries(per_page=page_size)
first_page = list(islice(registries, page_size))

saved_cursor = registries.cursor

# Later (e.g. in a new process), resume iteration from the saved cursor.
remaining_registries = api.registries(per_page=page_size, start=saved_cursor)

# Check (not in the source).
every = [r.name for r in api.registries()]
assert [r.name for r in first_page] + [r.name for r in remaining_registries] == every
assert len(every) >= 5
