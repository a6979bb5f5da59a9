"""Reconstruction agreement: a latent that carries the image scores the classifier's
accuracy, another image's latent scores chance, and a decoder that ignores z scores the
same on both."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.evaluate import reconstruction
from t2t_delta.models import base
from t2t_delta.problems import image_synthetic
from t2t_delta.problems import text_synthetic


class _PointMass:

  def __init__(self, value):
    self.value = value

  def sample(self, seed=None):
    del seed
    return self.value


class _CopyModel(base.LatentVariableModel):
  """z = the image itself; p(x | z) puts all its mass on `decode_fn(z)`. No
  `image_decoder`: decoded by sampling `likelihood` (factorised given z)."""

  def __init__(self, image_shape, decode_fn):
    super().__init__(problem=None)
    self.image_shape = image_shape
    self.decode_fn = decode_fn

  def encode(self, features, training=False, seed=None):
    del training, seed
    return _PointMass(tf.cast(features['image'], tf.float32))

  def likelihood(self, features, z, training=False, seed=None):
    del features, training, seed
    return _PointMass(self.decode_fn(z))


@pytest.fixture(scope='module')
def problem_and_classifiers():
  problem = image_synthetic.ImageShapesLit(num_train=2048, num_eval=64, num_test=256)
  return problem, reconstruction.fit_classifiers(problem, num_train=2048)


def test_classifiers_read_the_global_factors_from_real_pixels(problem_and_classifiers):
  problem, classifiers = problem_and_classifiers
  test = problem.arrays('test')
  accuracy = reconstruction.agreement(classifiers, test['image'], test)
  assert set(accuracy) == set(problem.label_keys)
  for label in ('colour', 'position', 'light'):
    assert accuracy[label] > 0.9, (label, accuracy)


def test_copying_decoder_scores_the_ceiling_and_other_latents_chance(
    problem_and_classifiers):
  problem, classifiers = problem_and_classifiers
  model = _CopyModel(problem.image_shape, lambda z: z)
  record = reconstruction.reconstruction_record(model, problem, 'test', classifiers,
                                                num_examples=256, batch_size=64)
  assert record['recon_examples'] == 256
  for label in problem.label_keys:
    assert record[f'recon_{label}_agreement'] == pytest.approx(
        record[f'recon_{label}_classifier_accuracy'])
  for label in ('colour', 'position', 'light'):
    majority = np.bincount(problem.arrays('test')[label]).max() / 256
    assert record[f'recon_{label}_agreement_other_z'] < majority + 0.15, label
    assert record[f'recon_{label}_agreement'] > 0.9


def test_decoder_ignoring_z_scores_the_same_with_any_latent(problem_and_classifiers):
  problem, classifiers = problem_and_classifiers
  fixed = problem.arrays('train')['image'][0].astype(np.float32)
  model = _CopyModel(problem.image_shape,
                     lambda z: tf.broadcast_to(fixed, tf.shape(z)))
  record = reconstruction.reconstruction_record(model, problem, 'test', classifiers,
                                                num_examples=128, batch_size=64)
  for label in problem.label_keys:
    assert (record[f'recon_{label}_agreement'] ==
            record[f'recon_{label}_agreement_other_z'])
  lines = reconstruction.format_lines(record)
  assert lines and all(label in '\n'.join(lines) for label in problem.label_keys)


def test_unlabelled_or_tiny_inputs_are_user_errors(problem_and_classifiers):
  problem, classifiers = problem_and_classifiers
  model = _CopyModel(problem.image_shape, lambda z: z)
  with pytest.raises(UserError, match='at least 2 images'):
    reconstruction.reconstruction_record(model, problem, 'test', classifiers,
                                         num_examples=1)
  class Unlabelled(text_synthetic.TextSynthetic):
    label_keys = ()
  with pytest.raises(UserError, match='no labels'):
    reconstruction.fit_classifiers(Unlabelled())
