# Source: wandb/examples examples/model-evaluation/util.py (`art.get_path("model.h5").download()`)
# and colabs/wandb-artifacts/Model_Management_Guide.ipynb (cell 9, `model_art.get_path(...)`)
# Changed: the import line; the model (a file written below instead of a Keras model).
import modelbay as wandb

with open("model.h5", "wb") as f:
    f.write(b"keras weights")

with wandb.init(project="model-evaluation", job_type="model_trainer") as run:
    art = wandb.Artifact("trained-model", "model")
    art.add_file("model.h5")
    run.log_artifact(art)

with wandb.init(project="model-evaluation", job_type="model_evaluator") as run:
    art = run.use_artifact("trained-model:latest")
    model_path = art.get_path("model.h5").download()
    assert open(model_path, "rb").read() == b"keras weights"  # (not in the source)
