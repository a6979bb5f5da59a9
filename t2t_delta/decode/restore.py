"""Load a trained run once: problem, model (exact training config) and its weights."""

import os

import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.train import config as config_lib
from t2t_delta.train import run_dir


def load_run(output_dir, gin_params=()):
  """(setup, model) for the run in `output_dir`, restored from its latest checkpoint.

  The model is rebuilt from the run's saved operative config (`config.gin`); gin
  params given here are applied on top of it (e.g. to change a sampling setting).
  """
  if not output_dir or not os.path.isdir(output_dir):
    raise UserError(f'--output_dir={output_dir!r} does not exist; pass the directory '
                    'of a training run.')
  setup = config_lib.RunSetup.from_run_dir(output_dir, gin_params)
  latest = run_dir.latest_complete_checkpoint(output_dir)
  if latest is None:
    raise UserError(f'no checkpoint in {run_dir.checkpoint_dir(output_dir)}; train the '
                    'run first (t2t-delta-trainer with the same --output_dir).')
  model = setup.model_cls(setup.problem)
  tf.train.Checkpoint(model=model).restore(latest).expect_partial()
  return setup, model, latest
