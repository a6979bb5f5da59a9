"""Information diagnostics on models whose answer is known in closed form."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions
from t2t_delta.evaluate import information
from t2t_delta.models import base
from t2t_delta.problems import base as problems_base

tfd = tfp.distributions


class _Vectors(problems_base.Problem):
  """x: float32 vectors [D] (stored under 'image'); label: a discrete factor of x."""

  modality = 'image'
  label_keys = ('label',)
  registered_name = 'information_test_vectors'

  def __init__(self, data, num_classes=1):
    super().__init__()
    self.data = data
    self.dim = data['test']['image'].shape[1]

  def feature_spec(self):
    return {'image': tf.TensorSpec([self.dim], tf.float32),
            'label': tf.TensorSpec([], tf.int32)}

  def arrays(self, split):
    return self.data[split]

  def units_per_example(self, features):
    return tf.fill(tf.shape(features['image'])[:1], float(self.dim))


def _vectors(n, dim, num_classes=4, seed=0):
  """x = one_hot(label) * 3 + N(0, 1) noise, or pure N(0, I) when num_classes = 0."""
  rng = np.random.default_rng(seed)
  label = rng.integers(0, max(num_classes, 1), n).astype(np.int32)
  x = rng.standard_normal((n, dim)).astype(np.float32)
  if num_classes:
    x[np.arange(n), label] += 3.0
  return {'image': x, 'label': label}


def _problem(n=512, dim=4, num_classes=4):
  return _Vectors({split: _vectors(n, dim, num_classes, seed=i)
                   for i, split in enumerate(('train', 'eval', 'test'))})


class _LinearGaussian(base.LatentVariableModel):
  """q(z | x) = N(A x, sigma^2 I); p(x | z) = N(B z, 1) (or ignoring z); p(z) = N(0, I).

  With x ~ N(0, I_D): I(x; z) = 1/2 log det(I + A A^T / sigma^2) in closed form.
  """

  def __init__(self, problem, a, sigma, b=None, ignore_z=False):
    super().__init__(problem)
    self.a = tf.constant(a, tf.float32)
    self.sigma = float(sigma)
    self.b = tf.constant(b if b is not None else np.zeros([problem.dim, a.shape[0]]),
                         tf.float32)
    self.ignore_z = ignore_z

  def encode(self, features, training=False, seed=None):
    loc = tf.linalg.matvec(self.a, features['image'])
    return tfd.Independent(tfd.Normal(loc, self.sigma * tf.ones_like(loc)), 1)

  def prior(self):
    return tfd.Independent(tfd.Normal(tf.zeros([self.a.shape[0]]), 1.0), 1)

  def likelihood(self, features, z, training=False, seed=None):
    loc = tf.zeros_like(features['image']) if self.ignore_z else tf.linalg.matvec(
        self.b, z)
    return tfd.Independent(tfd.Normal(loc, 1.0), 1)

  def __call__(self, features, training, seed):
    q = self.encode(features)
    z = q.sample(seed=seed)
    distortion = -self.likelihood(features, z).log_prob(features['image'])
    rate = tfd.kl_divergence(q, self.prior())
    return {'distortion': distortion, 'rate': rate,
            'rate_per_group': tfd.kl_divergence(q.distribution, tfd.Normal(0., 1.))}


class _CopyFactor(base.LatentVariableModel):
  """z = 4 one_hot(label(x)) + N(0, 0.1); p(x | z) scores x's factor by softmax(z):
  the latent carries exactly the factor (2 bits for 4 uniform classes)."""

  def __init__(self, problem, num_classes=4):
    super().__init__(problem)
    self.num_classes = num_classes

  def _label(self, x):
    return tf.argmax(x[:, :self.num_classes], axis=-1)

  def encode(self, features, training=False, seed=None):
    loc = 4.0 * tf.one_hot(self._label(features['image']), self.num_classes)
    return tfd.Independent(tfd.Normal(loc, 0.1 * tf.ones_like(loc)), 1)

  def prior(self):
    return tfd.Independent(tfd.Normal(tf.zeros([self.num_classes]), 1.0), 1)

  def log_likelihood(self, features, z, training=False, seed=None):
    logits = 5.0 * z
    return -tf.nn.sparse_softmax_cross_entropy_with_logits(
        self._label(features['image']), logits)

  def __call__(self, features, training, seed):
    q = self.encode(features)
    z = q.sample(seed=seed)
    return {'distortion': -self.log_likelihood(features, z),
            'rate': tfd.kl_divergence(q, self.prior())}


def _closed_form_mi_bits(a, sigma):
  d = a.shape[0]
  return 0.5 * np.linalg.slogdet(np.eye(d) + a @ a.T / sigma ** 2)[1] / math.log(2.)


def test_mutual_information_of_a_linear_gaussian_model():
  problem = _problem(n=2048, dim=3, num_classes=0)
  a = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]], np.float32)
  model = _LinearGaussian(problem, a, sigma=0.5)
  encoding = information.encode_split(model, problem, 'test', 256)
  result = information.mutual_information(encoding)
  expected = _closed_form_mi_bits(a, 0.5)                     # 1.16 + 0.5 = 1.66 bits
  assert result['mi_bits'] == pytest.approx(expected, rel=0.1)
  assert result['mi_max_bits'] == pytest.approx(11.0)
  # The generic route (encoding the batches again) gives the same estimate.
  generic = information.mutual_information(
      information.SplitEncoding(**dict(vars(encoding), gaussian=None)), model, problem,
      256)
  assert generic['mi_bits'] == pytest.approx(result['mi_bits'], abs=1e-3)


def test_mutual_information_never_exceeds_log_n():
  problem = _problem(n=64, dim=3, num_classes=0)
  model = _LinearGaussian(problem, 10.0 * np.eye(3, dtype=np.float32), sigma=0.01)
  result = information.mutual_information(information.encode_split(
      model, problem, 'test', 32))
  assert result['mi_bits'] <= 6.0 + 1e-9          # the true I is ~33 bits
  assert result['mi_bits'] > 5.9


def test_a_posterior_that_ignores_x_carries_nothing():
  problem = _problem(n=256, dim=3, num_classes=0)
  model = _LinearGaussian(problem, np.zeros([2, 3], np.float32), sigma=1.0,
                          b=np.ones([3, 2], np.float32))
  encoding = information.encode_split(model, problem, 'test', 64)
  assert abs(information.mutual_information(encoding)['mi_bits']) < 1e-9
  units = information.active_units(encoding.means)
  assert units['active_units'] == 0 and units['latent_units'] == 2


def test_a_decoder_that_ignores_z_gains_nothing():
  problem = _problem(n=256, dim=3, num_classes=0)
  model = _LinearGaussian(problem, np.eye(2, 3, dtype=np.float32), sigma=0.3,
                          ignore_z=True)
  encoding = information.encode_split(model, problem, 'test', 64)
  assert information.mutual_information(encoding)['mi_bits'] > 1.0  # z does carry x
  gain = information.decoder_gain(information.decoder_log_likelihoods(
      model, problem, 'test', 64, encoding.samples, 31))
  assert abs(gain['swap_gain_bits']) < 0.1
  assert gain['contrastive_bits'] <= 0.1
  # ... while a decoder that reads z gains from its own.
  reader = _LinearGaussian(problem, np.eye(2, 3, dtype=np.float32), sigma=0.3,
                           b=np.eye(3, 2, dtype=np.float32))
  gain = information.decoder_gain(information.decoder_log_likelihoods(
      reader, problem, 'test', 64, encoding.samples, 31))
  assert gain['swap_gain_bits'] > 1.0 and gain['contrastive_bits'] > 0.5


def test_contrastive_bound_recovers_the_entropy_of_a_copied_factor():
  problem = _problem(n=1024, dim=4, num_classes=4)
  model = _CopyFactor(problem)
  encoding = information.encode_split(model, problem, 'test', 128)
  labels = encoding.labels['label']
  entropy = -sum(p * math.log2(p) for p in np.bincount(labels) / len(labels))
  gain = information.decoder_gain(information.decoder_log_likelihoods(
      model, problem, 'test', 128, encoding.samples, 255))
  assert gain['contrastive_max_bits'] == pytest.approx(8.0)
  assert gain['contrastive_bits'] == pytest.approx(entropy, rel=0.1)
  assert information.mutual_information(encoding)['mi_bits'] == pytest.approx(
      entropy, rel=0.1)


def test_active_units_count_the_informative_dimensions():
  problem = _problem(n=256, dim=5, num_classes=0)
  a = np.zeros([6, 5], np.float32)
  a[0, 0], a[3, 1], a[4, 2] = 1.0, 0.5, 0.2              # variances 1, 0.25, 0.04
  a[5, 3] = 0.05                                          # variance 0.0025 < 0.01
  model = _LinearGaussian(problem, a, sigma=1.0)
  units = information.active_units(information.encode_split(
      model, problem, 'test', 64).means)
  assert units['active_units'] == 3 and units['latent_units'] == 6
  assert units['active_units_by_dim'] == [1, 0, 0, 1, 1, 0]


def test_gaussian_pairs_match_the_distributions_log_prob():
  """The matrix form of log q(z_i | x_j) equals TFP's log_prob, for a factorised
  Normal and for a PrefixPosterior (text: continuation by the AR(1) prior)."""
  rng = np.random.default_rng(3)
  loc = rng.normal(size=(5, 6, 2)).astype(np.float32)
  scale = rng.uniform(0.3, 1.0, (5, 6, 2)).astype(np.float32)
  mask = (np.arange(6)[None] < np.array([1, 3, 6, 2, 4])[:, None]).astype(np.float32)
  for q in (tfd.Independent(tfd.Normal(loc, scale), 2),
            distributions.PrefixPosterior(loc, scale, mask, alphas=[0.3, 0.8])):
    z = q.sample(seed=(1, 2))
    params = {k: np.asarray(v, np.float64).reshape(5, -1) for k, v in
              information._gaussian_parameters(q, z).items()}  # pylint: disable=protected-access
    block = information.gaussian_log_q_block(params, np.reshape(z, [5, -1]),
                                             params['continuation'], slice(0, 5))
    expected = q.log_prob(tf.reshape(z, [5, 1, 6, 2])).numpy()      # [i, j]
    np.testing.assert_allclose(block, expected, rtol=1e-5, atol=1e-4)


class _Sentences(problems_base.TextProblem):
  """Sentences of 2..7 tokens whose every token is 3 + label (4 labels)."""

  label_keys = ('label',)
  registered_name = 'information_test_sentences'

  @property
  def max_length(self):
    return 8

  @property
  def vocab_size(self):
    return 7

  def arrays(self, split):
    rng = np.random.default_rng({'train': 0, 'eval': 1, 'test': 2}[split])
    label = rng.integers(0, 4, 512)
    lengths = rng.integers(2, 8, 512)
    targets, masks = zip(*(self.pad_ids([3 + l] * (k - 1)) for l, k in
                           zip(label, lengths)))
    return {'targets': np.stack(targets), 'mask': np.stack(masks),
            'label': label.astype(np.int32)}


class _SequenceLatents(base.LatentVariableModel):
  """q(z | x): N(mu, 0.3) on the real steps (mu = label - 1.5, or 0), AR(1) after."""

  def __init__(self, problem, informative):
    super().__init__(problem)
    self.informative = informative

  def encode(self, features, training=False, seed=None):
    mask = tf.cast(features['mask'], tf.float32)
    label = tf.cast(features['targets'][:, 0] - 3, tf.float32)
    loc = (label - 1.5)[:, None, None] * tf.ones([1, 8, 2])
    loc = loc if self.informative else tf.zeros_like(loc)
    return distributions.PrefixPosterior(loc, 0.3 * tf.ones_like(loc), mask,
                                         alphas=[0.5, 0.9])

  def __call__(self, features, training, seed):
    raise NotImplementedError


def test_sequence_mi_is_conditional_on_length():
  """Where a sentence's latents end reveals its length whatever the encoder does; the
  MI of text latents is I(x; z | L), so an x-ignoring posterior scores 0."""
  problem = _Sentences()
  ignoring = information.encode_split(_SequenceLatents(problem, False), problem, 'test',
                                      64, elbo=False)
  assert set(ignoring.lengths) == set(range(2, 8))
  result = information.mutual_information(ignoring)
  assert abs(result['mi_bits']) < 1e-6
  assert result['mi_max_bits'] == pytest.approx(np.mean(np.log2(
      np.bincount(ignoring.lengths)[ignoring.lengths])))
  informative = information.encode_split(_SequenceLatents(problem, True), problem,
                                         'test', 64, elbo=False)
  labels = informative.labels['label']
  entropy = -sum(p * math.log2(p) for p in np.bincount(labels) / len(labels))
  assert information.mutual_information(informative)['mi_bits'] == pytest.approx(
      entropy, rel=0.05)
