# Source: wandb/examples colabs/monai/3d_brain_tumor_segmentation.ipynb (`artifact.wait()`
# after logging) and colabs/pytorch-lightning/Fine_tuning_a_Transformer_with_Pytorch_Lightning.ipynb
# (`raw_data_artifact.get_entry("zipfile").download()`)
# Changed: the import line; the data (a small zip made below instead of a download).
import modelbay as wandb
import zipfile

# Setup (not in the source): the file the notebook downloads from the web.
with zipfile.ZipFile("data.zip", "w") as z:
    z.writestr("train.csv", "text,label\nhello,1\n")

with wandb.init(project="lightning-transformers", job_type="upload") as run:
    raw_data_artifact = wandb.Artifact("raw-data", type="dataset")
    raw_data_artifact.add_file("data.zip", name="zipfile")
    run.log_artifact(raw_data_artifact)
    raw_data_artifact.wait()

with wandb.init(project="lightning-transformers", job_type="preprocess") as run:
    raw_data_artifact = run.use_artifact("raw-data:latest")
    zip_path = raw_data_artifact.get_entry("zipfile").download()
    with zipfile.ZipFile(zip_path) as z:
        z.extractall("data")
