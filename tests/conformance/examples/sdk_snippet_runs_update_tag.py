# Source: wandb/docs snippets/_includes/code-examples/runs_update_tag.py
# Changed: the import line; placeholders <entity>, <project>, <tag1>, <tag2>, <tag3>.
"""
Add one or more tags to an active run.

A run object's `tags` property is a tuple. To add a new tag to an existing run,
update the `tags` property with a new tuple that includes the existing tags and the new tag(s).
"""

import modelbay as wandb

with wandb.init(entity="research", project="tags", tags=["baseline", "fp16"]) as run:
    # Training and logging code goes here

    # Add a new tag to the existing tags by creating a new tuple that includes the existing tags and the new tag.
    run.tags += ("promoted",)
