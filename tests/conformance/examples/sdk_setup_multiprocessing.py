# Source: wandb/docs models/ref/python/functions/setup.mdx (the example of wandb.setup)
# Changed: the import line.
import multiprocessing

import modelbay as wandb


def run_experiment(params):
    with wandb.init(config=params):
        # Run experiment
        pass


if __name__ == "__main__":
    # Start backend and set global config
    wandb.setup(settings={"project": "my_project"})

    # Define experiment parameters
    experiment_params = [
        {"learning_rate": 0.01, "epochs": 10},
        {"learning_rate": 0.001, "epochs": 20},
    ]

    # Start multiple processes, each running a separate experiment
    processes = []
    for params in experiment_params:
        p = multiprocessing.Process(target=run_experiment, args=(params,))
        p.start()
        processes.append(p)

    # Wait for all processes to complete
    for p in processes:
        p.join()

    # Optional: Explicitly shut down the backend
    wandb.teardown()

    # Check (not in the source): each process logged a run into setup's project.
    assert all(p.exitcode == 0 for p in processes)
    configs = sorted(r.config["epochs"] for r in wandb.Api().runs("my_project"))
    assert configs == [10, 20]
