# Source: wandb/docs models/track/config.mdx ("Example use case for file-based configs" and
# "TensorFlow v1 flags", without TensorFlow)
# Changed: the import line; the placeholder my_yaml_file.
import modelbay as wandb

my_yaml_file = {"dataset": "mnist", "owner": "research"}

hyperparameter_defaults = dict(
    dropout=0.5,
    batch_size=100,
    learning_rate=0.001,
)

config_dictionary = dict(
    yaml=my_yaml_file,
    params=hyperparameter_defaults,
)

with wandb.init(config=config_dictionary) as run:
    run.config.epochs = 4
