"""The shipped tiny configurations trained for a few steps in the test process.

gin/image_tiny.gin on image_synthetic (the README's main job) and gin/text_tiny.gin on
text_synthetic, with smaller eval/test splits, 20 steps of batch 8, an evaluation at
step 10 and on both splits at the end. Several test modules read the same runs (see
the `tiny_run` fixture in conftest.py), so each is trained once per test session.
"""

import json
import os

import gin

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 20
EVAL_EVERY = 10
CONFIGS = {   # problem, model, gin file
    'image': ('image_synthetic', 'delta_vae_image', 'gin/image_tiny.gin'),
    'text': ('text_synthetic', 'delta_vae_text', 'gin/text_tiny.gin'),
}


def train(output_dir, name, dtype='float32'):
  """Trains configuration `name` in `dtype` activations into `output_dir`; the Trainer."""
  # pylint: disable=g-import-not-at-top
  from t2t_delta import registry
  from t2t_delta.runtime import gin_config
  from t2t_delta.train import strategies
  from t2t_delta.train import trainer as trainer_lib
  problem_name, model_name, gin_file = CONFIGS[name]
  gin_config.parse_gin(
      gin_files=[os.path.join(REPO, gin_file)],
      gin_params=[f'train.steps = {STEPS}', f'train.eval_every = {EVAL_EVERY}',
                  'train.log_every = 0', "train.final_splits = ('eval', 'test')",
                  'train.batch_size = 8', 'train.eval_batch_size = 128',
                  'linear_warmup_constant.warmup_steps = 5',
                  'linear_warmup_cosine_decay.warmup_steps = 5',
                  f'{problem_name}.num_eval = 128', f'{problem_name}.num_test = 128',
                  f"{model_name}.compute_dtype = '{dtype}'",
                  # Pictures are read from the float32 runs only.
                  f'summaries.enabled = {dtype == "float32"}'])
  try:
    problem = registry.problem(problem_name)()
    trainer = trainer_lib.Trainer(problem, registry.model(model_name), output_dir,
                                  strategies.make_strategy('cpu'), seed=1,
                                  config=trainer_lib.TrainConfig())
    trainer.train()
    return trainer
  finally:
    gin.clear_config()


def records(output_dir, split):
  with open(os.path.join(output_dir, 'metrics.jsonl')) as f:
    return [r for r in map(json.loads, f) if r['split'] == split]
