"""Tiny in-memory problems and a faulty model for fast tests (registered on import)."""

import numpy as np
import tensorflow as tf

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.models import vae_conv
from t2t_delta.problems import ImageProblem, TextProblem


class ImagesOfShape(ImageProblem):
  """An unregistered image problem of any shape and no data, to build models from."""

  registered_name = 'test_images'

  def __init__(self, shape=(4, 4, 3)):
    super().__init__()
    self._shape = tuple(shape)

  @property
  def image_shape(self):
    return self._shape


def random_images(shape=(4, 4, 3), batch=2, seed=0):
  """{'image': uint8 [batch, *shape]} of uniform random pixels."""
  rng = np.random.RandomState(seed)
  return {'image': tf.constant(rng.randint(0, 256, (batch,) + tuple(shape)), tf.uint8)}


@registry.register_problem
class TinyImages(ImageProblem):
  """8x8x3 images whose brightness level is the label (test problem)."""

  label_keys = ('label',)

  def __init__(self, data_dir=None, size=8, channels=3, num_train=256, num_test=48):
    super().__init__(data_dir)
    self.size, self.channels = size, channels
    self.sizes = {'train': num_train, 'eval': num_test, 'test': num_test}

  @property
  def image_shape(self):
    return (self.size, self.size, self.channels)

  def arrays(self, split):
    rng = np.random.default_rng({'train': 0, 'eval': 1, 'test': 2}[split])
    n = self.sizes[split]
    label = rng.integers(0, 4, n)
    noise = rng.integers(0, 40, (n,) + self.image_shape)
    image = (label[:, None, None, None] * 60 + noise).astype(np.uint8)
    return {'image': image, 'label': label.astype(np.int32)}


@registry.register_problem
class TinyText(TextProblem):
  """Sentences of one repeated word; the word is the label (test problem)."""

  label_keys = ('label',)
  WORDS = ('alpha', 'beta', 'gamma', 'delta')

  def __init__(self, data_dir=None, max_length=8, num_train=256, num_test=48):
    super().__init__(data_dir)
    self._max_length = max_length
    self.sizes = {'train': num_train, 'eval': num_test, 'test': num_test}

  @property
  def max_length(self):
    return self._max_length

  @property
  def vocab_size(self):
    return 3 + len(self.WORDS)

  def text_to_ids(self, text):
    return [3 + self.WORDS.index(w) if w in self.WORDS else 2 for w in text.split()]

  def ids_to_text(self, ids):
    words = []
    for i in ids:
      if i == self.EOS_ID:
        break
      if i >= 3:
        words.append(self.WORDS[i - 3])
    return ' '.join(words)

  def arrays(self, split):
    rng = np.random.default_rng({'train': 0, 'eval': 1, 'test': 2}[split])
    n = self.sizes[split]
    label = rng.integers(0, len(self.WORDS), n)
    lengths = rng.integers(2, self._max_length, n)
    targets, masks = zip(*(self.pad_ids([3 + l] * k) for l, k in zip(label, lengths)))
    return {'targets': np.stack(targets), 'mask': np.stack(masks),
            'label': label.astype(np.int32)}


@registry.register_model
class TinyFaulty(vae_conv.VaeConv):
  """vae_conv that fails on purpose (tests of the trainer's start-up checks).

  fail='trace': our own UserError, raised while the training step is traced;
  fail='run': a runtime check that fails when the first step runs.
  """

  def __init__(self, problem, fail='trace'):
    super().__init__(problem, latent_dim=2, hidden=4)
    self.fail = fail

  def __call__(self, features, training, seed):
    if self.fail == 'trace':
      raise UserError("tiny_faulty.fail='trace': this model refuses to be traced")
    if self.fail == 'run':
      tf.debugging.assert_less(tf.reduce_min(features['image']), tf.constant(0, tf.uint8),
                               message="tiny_faulty.fail='run': no image is negative")
    return super().__call__(features, training, seed)
