# Source: wandb/docs models/runs/grouping.mdx ("Organize runs by job type")
# Changed: the import line; placeholders <entity>, <project>.
import modelbay as wandb

entity = "my-team"
project = "job-type-demo"

for job_type in ["training", "evaluation"]:
    for i in range(2):
        with wandb.init(entity=entity, project=project, job_type=job_type, name=f"{job_type}_run_{i}") as run:
            # Simulate some process
            for step in range(50):
                run.log({
                    "metric1": 0.2 + (step / 50) * 0.4 + (i * 0.03),
                    "metric2": 0.8 - (step / 50) * 0.3
                })
            # Check (not in the source).
            assert run.job_type == job_type
