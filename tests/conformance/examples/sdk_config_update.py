# Source: wandb/docs models/track/config.mdx ("Set the configuration throughout your script")
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
    # Update config after you initialize W&B
    run.config["dropout"] = 0.2
    run.config.epochs = 4
    run.config["batch_size"] = 32

    run.config.update({"lr": 0.1, "channels": 16})

    # Check (not in the source).
    assert run.config.epochs == 4 and run.config["lr"] == 0.1
