# Source: wandb/docs models/track/sdk-performance.mdx ("Memory-constrained environments")
# Changed: the import line.
import modelbay as wandb


# Setup (not in the source): the step and loss the snippet reads.
class Loss:
    def item(self):
        return 0.25


step, loss = 1000, Loss()

# Use minimal logging configuration
wandb.init(
    project="memory-constrained",
    settings=wandb.Settings(
        _disable_stats=True,  # Disable system metrics
        _internal_queue_size=100,  # Smaller queue
    )
)

# Log only essential metrics
if step % 1000 == 0:  # Very infrequent logging
    wandb.log({"loss": loss.item()})

# Check (not in the source): the run logged to the project; the settings modelbay does not
# use were accepted and are said to be ignored.
run = wandb.run
run.finish()
stored = wandb.Api().run(f"memory-constrained/{run.id}")
assert stored.summary["loss"] == 0.25
assert wandb.Settings(_disable_stats=True, project="p").ignored == ["_disable_stats"]
