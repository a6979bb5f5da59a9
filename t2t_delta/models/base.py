"""The model interface shared by every registered model.

A model is a `tf.Module` built from a problem (for shapes) and gin-configured
hyper-parameters. Calling it on a batch returns per-example terms in **nats**; how those
terms become a loss is decided in `t2t_delta.objectives`, and how they become reported
metrics in `t2t_delta.train.metrics`, so that no model re-implements either.

    out = model(features, training=True, seed=seed)
    out['distortion']       # [B] -E_q log p(x|z)          (nats per example)
    out['rate']             # [B] KL(q(z|x) || p(z))        (nats per example; 0 without latents)
    out['rate_per_group']   # [B, G] rate split over latent groups, for free bits (optional)
    out['aux_loss']         # [B] loss of parts trained on stop-gradient inputs (optional),
                            #     e.g. the auxiliary prior's NLL; added to the objective as is
    out['extras']           # dict name -> [B] nats, extra reported terms (optional),
                            #     e.g. 'rate_aux' = -log p_aux(z) - H(q) estimate
"""

import tensorflow as tf

from t2t_delta.errors import UserError

COMPUTE_DTYPES = {'float32': tf.float32, 'bfloat16': tf.bfloat16}


def resolve_compute_dtype(name, model_name='model'):
  """'auto' | 'float32' | 'bfloat16' -> tf.DType of the activations.

  Variables, optimizer state and log-likelihoods stay float32 whatever this says.
  'auto' is bfloat16 when the model is built under a `tf.distribute.TPUStrategy`
  (TPUs compute bfloat16 natively) and float32 elsewhere (CPUs without native
  bfloat16 arithmetic run it about 2x slower than float32).
  """
  if name == 'auto':
    on_tpu = isinstance(tf.distribute.get_strategy(), tf.distribute.TPUStrategy)
    return tf.bfloat16 if on_tpu else tf.float32
  if name not in COMPUTE_DTYPES:
    raise UserError(f'{model_name}.compute_dtype={name!r}; valid: auto, '
                    f'{", ".join(sorted(COMPUTE_DTYPES))}.')
  return COMPUTE_DTYPES[name]


class Model(tf.Module):
  """Base class of registered models.

  Subclasses implement `__call__(features, training, seed)` returning the dict above.
  Latent-variable models also implement `encode`, `prior` and `decode`.
  """

  has_latents = False
  registered_name = None
  image_shape = None     # image models: (H, W, C) of the images they model
  image_decoder = None   # an autoregressive `layers.incremental.IncrementalImageDecoder`

  def __init__(self, problem, name=None):
    super().__init__(name=name or type(self).__name__)
    self.problem = problem

  def __call__(self, features, training, seed):
    raise NotImplementedError

  def committed_rate(self):
    """Minimum rate (nats per example) guaranteed by construction, or None."""
    return None

  def summary(self):
    """One line: name, parameter count."""
    count = count_parameters(self)
    return f'{self.registered_name or type(self).__name__}: {count:,} parameters'


class LatentVariableModel(Model):
  """A model with a posterior q(z|x), a prior p(z) and a likelihood p(x|z)."""

  has_latents = True
  data_feature = 'image'   # the feature p(x|z) models (text problems: 'targets')
  aux_prior = None         # an auxiliary prior fitted to posterior samples, if any

  def encode(self, features, training, seed):
    """Posterior q(z|x) as a `tfd.Distribution` with event shape [n, d] (or [d])."""
    raise NotImplementedError

  def prior(self):
    """Prior p(z) as a `tfd.Distribution` with the posterior's event shape."""
    raise NotImplementedError

  def decode(self, features, z, training, seed):
    """Likelihood p(x|z) as a `tfd.Distribution` over the features' data tensor."""
    raise NotImplementedError

  def log_likelihood(self, features, z, training=False, seed=None):
    """log p(x | z) `[B]` nats for latents z `[B, ...]`.

    Images: the likelihood's log-probability of the data feature. Text: the token
    log-probabilities summed over the real tokens (`features['mask']`).
    """
    if seed is None:
      seed = tf.constant([0, 0], tf.int32)
    likelihood = self.decode(features, z, training, seed)
    if self.problem.modality == 'text':
      targets = tf.cast(features['targets'], tf.int32)
      per_token = likelihood.log_prob(targets)
      return tf.reduce_sum(per_token * tf.cast(features['mask'], per_token.dtype), -1)
    value = features[self.data_feature]
    if likelihood.dtype is not None and likelihood.dtype.is_integer:
      value = tf.cast(value, likelihood.dtype)
    return likelihood.log_prob(value)

  def posterior_mean(self, features):
    """[B, ...] posterior means (deterministic, eval mode), for probes and plots."""
    return self.encode(features, training=False, seed=tf.constant([0, 0])).mean()


def count_parameters(module):
  """Number of trainable scalars of a `tf.Module`."""
  return sum(int(tf.size(v)) for v in module.trainable_variables)
