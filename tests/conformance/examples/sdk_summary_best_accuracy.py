# Source: wandb/docs models/track/log/log-summary.mdx (first snippet)
# Changed: the import line; the placeholders `args` and `test()` (defined below).
import modelbay as wandb
import argparse

# Setup (not in the source): the arguments and the test function the snippet assumes.
args = argparse.Namespace(epochs=5, lr=0.01)
scores = iter([(0.9, 0.50), (0.7, 0.65), (0.8, 0.60), (0.5, 0.80), (0.6, 0.75)])


def test():
    return next(scores)


with wandb.init(config=args) as run:
  best_accuracy = 0
  for epoch in range(1, args.epochs + 1):
      test_loss, test_accuracy = test()
      if test_accuracy > best_accuracy:
          run.summary["best_accuracy"] = test_accuracy
          best_accuracy = test_accuracy

  # Check (not in the source).
  assert run.summary["best_accuracy"] == 0.80 and run.config["epochs"] == 5
