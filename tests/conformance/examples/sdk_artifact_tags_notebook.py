# Source: wandb/examples colabs/wandb-artifacts/WandB_Artifact_Tags.ipynb (cells 2-4)
# Changed: the import line.
# Log in to your W&B account
import modelbay as wandb
wandb.login()

import random
import math
import pandas as pd
import numpy as np
import os

PROJECT = "artifacts-example"
JOB_TYPE = "generate_artifacts"

run = wandb.init(
  project=PROJECT,
  job_type=JOB_TYPE
)


import random
import math



# set up tag values
# AWS regions (us-west-2 = Oregon, eu-central-1 = Frankfurt, me-central-1 = UAE, ap-east-1 = Hong Kong)
regions = ["us-west-2", "eu-central-1", "me-central-1", "ap-east-1"]
# add base model tags to each artifact version
artifact_base_model_by_region = {
    "us-west-2": ["Llama 3 Instruct - 70B", "Llama 3 Instruct - 70B", "Gemini 1_5 Pro", "Claude 3_5 Sonnet"],
    "eu-central-1": ["Llama 3 Instruct - 70B", "Gemini 1_5 Pro", "Claude 3_5 Sonnet", "Llama 3 Instruct - 70B"],
    "me-central-1": ["Llama 3 Instruct - 70B", "Gemini 1_5 Pro", "Gemini 1_5 Pro", "Claude 3_5 Sonnet"],
    "ap-east-1": ["Claude 3_5 Sonnet", "Gemini 1_5 Pro", "Claude 3_5 Sonnet", "Gemini 1_5 Pro"]
}
# add performance metadata to each artifact version
artifact_metadata_by_region = {
    "us-west-2": [0.70, 0.73, 0.77, 0.71],
    "eu-central-1": [0.76, 0.81, 0.79, 0.77],
    "me-central-1": [0.77, 0.68, 0.74, 0.83],
    "ap-east-1": [0.82, 0.79, 0.76, 0.76]
}
# add model status tags to each artifact version
artifact_status_by_region = {
    "us-west-2": ["production", "candidate", "archived", "archived"],
    "eu-central-1": ["production", "candidate", "archived", "archived"],
    "me-central-1": ["production", "candidate", "candidate", "archived"],
    "ap-east-1": ["production", "candidate", "archived", "archived"]
}


# create 4 artifact versions for each region
for region in regions:

  i = 0
  for base_model in artifact_base_model_by_region[region]:

    # create random dataset to use as a model version
    df = pd.DataFrame(np.random.randint(0,100,size=(100, 4)), columns=list('ABCD'))
    df.to_json("test_model.pt", orient='records', lines=True)

    model_name = "test_model_" + region + "_" + str(i)
    at = wandb.Artifact(
        name=model_name,
        type="model",
    )
    at.add_file("test_model.pt")
    arti = run.log_artifact(at)
    arti.wait()

    # assign a status tag to each artifact except the 4th which has no status tag assigned
    if i == 3:
      arti.tags = [region, base_model] # Provide one or more tags in a list
      arti.metadata = {"accuracy": artifact_metadata_by_region[region][i]}
    else:
      arti.tags = [region, base_model, artifact_status_by_region[region][i]] # Provide one or more tags in a list
      arti.metadata = {"accuracy": artifact_metadata_by_region[region][i]}
    arti.save()

    # link the artifact to the model registry
    registered_at = run.link_artifact(at, f"wandb-registry-model/Artifact Demo Models")
    i = (i + 1)


# mark the run as finished
run.finish()
