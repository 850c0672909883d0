# Source: wandb/docs models/track/config.mdx ("Set the configuration at initialization")
# Changed: the import line.
import modelbay as wandb

# Define a config dictionary object
config = {
    "hidden_layer_sizes": [32, 64],
    "kernel_sizes": [3],
    "activation": "ReLU",
    "pool_sizes": [2],
    "dropout": 0.5,
    "num_classes": 10,
}

# Pass the config dictionary when you initialize W&B
with wandb.init(project="config_example", config=config) as run:
    # Access values with the key as the index value
    hidden_layer_sizes = run.config["hidden_layer_sizes"]
    kernel_sizes = run.config["kernel_sizes"]
    activation = run.config["activation"]

    # Python dictionary get() method
    hidden_layer_sizes = run.config.get("hidden_layer_sizes")
    kernel_sizes = run.config.get("kernel_sizes")
    activation = run.config.get("activation")
