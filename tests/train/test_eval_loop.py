"""One whole-split evaluation: the trainer's record and t2t-delta-eval's agree.

The trainer evaluates through its strategy; the evaluator evaluates the restored
checkpoint (a latent model in its encoder pass). Both sum the model's terms at the
evaluation seed over the whole split and convert them in `metrics`, so the records
agree up to the order of the float sums: for any batch size when the model draws no
sample, and at the trainer's batch size when it draws z ~ q(z|x) (the samples of a
stateless seed depend on the batch's shape).
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.evaluate import evaluator
from t2t_delta.runtime import gin_config, run_setup
from t2t_delta.train import eval_loop, metrics, strategies
from t2t_delta.train import trainer as trainer_lib

TERMS = ('nelbo', 'rate', 'distortion', 'nelbo_bits_per_example', 'rate_bits_per_example',
         'committed_rate')
QUIET = evaluator.Options(nll_samples=0, information=False, probe=False,
                          untrained_baseline=False)


def _trained(output_dir, model, params=()):
  try:
    setup = run_setup.RunSetup.for_training(
        'tiny_images', model, output_dir,
        gin_params=['train.steps=2', 'train.batch_size=8', 'train.log_every=0',
                    'train.final_splits=()', 'summaries.enabled=False',
                    'tiny_images.num_test=20'] + list(params))
    trainer = trainer_lib.Trainer.for_run(setup, strategies.make_strategy('cpu'))
    trainer.train(evaluate=False)
    return trainer
  finally:
    gin.clear_config()


@pytest.mark.parametrize('model,params,batch_size', [
    ('ar_image', ['ar_image.num_decoder_layers=1', 'ar_image.decoder_hidden=8',
                  'ar_image.decoder_filter=16', 'ar_image.num_components=2'], 16),
    ('vae_conv', ['vae_conv.hidden=8', 'vae_conv.latent_dim=4'], None),
])
def test_trainer_and_evaluator_records_agree(tmp_path, model, params, batch_size):
  trainer = _trained(str(tmp_path), model, params)
  by_trainer = trainer.evaluate('test')   # batches of 8
  try:
    ev = evaluator.Evaluator(str(tmp_path), batch_size=batch_size)
    by_evaluator = ev.evaluate(['test'], QUIET, write=False, log=None)[0]
  finally:
    gin.clear_config()
  assert by_trainer['num_examples'] == by_evaluator['num_examples'] == 20
  assert by_trainer['step'] == by_evaluator['step'] == 2
  for key in TERMS:
    assert (key in by_trainer) == (key in by_evaluator), key
    if key in by_trainer:
      assert by_evaluator[key] == pytest.approx(by_trainer[key], rel=1e-5), key


def test_split_totals_sums_batches_and_averages_the_groups():
  problem = registry.problem('tiny_images')()
  batches = [{'weight': tf.constant([1.0, 1.0])}, {'weight': tf.constant([1.0, 0.0])}]

  def step(features):
    weight = features['weight']
    sums = {'count': tf.reduce_sum(weight), 'units': 10.0 * tf.reduce_sum(weight),
            'distortion': 2.0 * tf.reduce_sum(weight), 'rate': tf.reduce_sum(weight)}
    return sums, {'rate_per_group': tf.reduce_sum(weight) * tf.constant([0.25, 0.75])}

  seen = []
  totals, per_group = eval_loop.split_totals(step, batches, problem, 'test',
                                             before_batch=lambda: seen.append(1))
  assert len(seen) == 2
  assert totals == {'count': 3.0, 'units': 30.0, 'distortion': 6.0, 'rate': 3.0}
  np.testing.assert_allclose(per_group, [0.25, 0.75])   # nats per example
  record = metrics.split_record(problem, totals, 5, 'test', committed_rate=0.5)
  # bits/dim: Σ nats / Σ dimensions / ln 2.
  assert record['nelbo'] == pytest.approx(9.0 / 30.0 / np.log(2.0))
  assert record['committed_rate'] == pytest.approx(1.5 / 30.0 / np.log(2.0))
  assert record['rate_bits_per_example'] == pytest.approx(1.0 / np.log(2.0))


def test_an_empty_split_is_a_user_error():
  problem = registry.problem('tiny_images')()
  with pytest.raises(UserError, match='the eval split of tiny_images is empty'):
    eval_loop.split_totals(lambda f: ({}, {}), [], problem, 'eval')


def test_step_boundaries():
  gin_config.parse_gin(gin_params=[
      'train.steps=10', 'train.log_every=4', 'train.eval_every=3',
      'train.checkpoint_every_steps=5', 'train.checkpoint_every_secs=60',
      'train.steps_per_loop=4'])
  try:
    c = trainer_lib.TrainConfig()
  finally:
    gin.clear_config()
  assert [s for s in range(1, 11) if c.log_at(s)] == [4, 8, 10]
  assert [s for s in range(1, 11) if c.eval_at(s)] == [3, 6, 9]   # 10: final splits
  assert [s for s in range(1, 11) if c.checkpoint_at(s, 0.0)] == [5, 10]
  assert c.checkpoint_at(1, 61.0) and not c.checkpoint_at(1, 59.0)
  # Loops end at every boundary: 0 -> 3 (eval) -> 4 (log) -> 5 (ckpt) -> 6 -> 8 -> 9 -> 10.
  step, ends = 0, []
  while step < c.steps:
    step += c.loop_length(step)
    ends.append(step)
  assert ends == [3, 4, 5, 6, 8, 9, 10]
