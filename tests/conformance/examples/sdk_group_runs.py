# Source: wandb/docs models/runs/grouping.mdx ("Organize runs into groups")
# Changed: the import line; placeholders <entity>, <project>. The check is not in the source.
import modelbay as wandb

entity = "my-team"
project = "grouping-demo"

for group in ["A", "B", "C"]:
    for i in range(3):
        with wandb.init(entity=entity, project=project, group=group, name=f"{group}_run_{i}") as run:
            # Simulate some training
            for step in range(100):
                run.log({
                    "acc": 0.5 + (step / 100) * 0.3 + (i * 0.05),
                    "loss": 1.0 - (step / 100) * 0.5
                })
            # Check (not in the source).
            assert run.group == group and run.entity == entity
