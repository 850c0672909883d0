# Source: wandb/docs models/track/log/log-models.mdx ("Example: Log and link a model to the W&B
# Model Registry")
# Changed: the import line; placeholders <your-entity> and the path.
import modelbay as wandb

# Setup (not in the source): the model file.
import os
os.makedirs("local/dir", exist_ok=True)
with open("local/dir/model.pt", "wb") as f:
    f.write(b"weights")

path = "local/dir/model.pt"
registered_model_name = "Fine-Tuned-Review-Autocompletion"

with wandb.init(project="llm-evaluation", entity="reviewco") as run:
    run.link_model(path=path, registered_model_name=registered_model_name)
