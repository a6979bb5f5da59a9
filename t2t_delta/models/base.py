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

What a model can do is declared by these classes, so that the tools read
`model.has_latents`, `model.aux_prior`, `model.image_decoder` or
`isinstance(model, TextDecoderModel)` instead of probing for attributes:

    Model                 has_latents False, aux_prior None, image_shape and
                          image_decoder (image models' autoregressive p(x|z)),
                          display_name (for messages)
    LatentVariableModel   encode -> q(z|x), prior -> p(z), likelihood -> p(x|z),
                          log_likelihood, posterior_mean, sample_prior
    TextDecoderModel      decode_logits, init_decode_cache, decode_step: token-by-token
                          sampling (`t2t_delta.decode.text_sampler`)

Priors have one set of names everywhere (`PRIORS`): 'model' is the model's own prior
p(z) (`prior()`: AR(1), N(0, I), a flow, ...), 'aux' its auxiliary prior fitted to
posterior samples (`aux_prior`).
"""

import tensorflow as tf

from t2t_delta.errors import UserError

COMPUTE_DTYPES = {'float32': tf.float32, 'bfloat16': tf.bfloat16}
PRIORS = ('model', 'aux')


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
  Latent-variable models derive from `LatentVariableModel`, text models that sample
  token by token also from `TextDecoderModel`.
  """

  has_latents = False
  registered_name = None
  aux_prior = None       # an auxiliary prior fitted to posterior samples, if any
  image_shape = None     # image models: (H, W, C) of the images they model
  image_decoder = None   # an autoregressive `layers.incremental.IncrementalImageDecoder`

  def __init__(self, problem, name=None):
    super().__init__(name=name or type(self).__name__)
    self.problem = problem

  def __call__(self, features, training, seed):
    raise NotImplementedError

  @property
  def display_name(self):
    """The registered name (the class name for unregistered models), for messages."""
    return self.registered_name or type(self).__name__

  def committed_rate(self):
    """Minimum rate (nats per example) guaranteed by construction, or None."""
    return None

  def prior_names(self):
    """The priors this model can sample from: () without latents, else 'model' and,
    with an auxiliary prior, 'aux'."""
    if not self.has_latents:
      return ()
    return PRIORS if self.aux_prior is not None else PRIORS[:1]

  def check_prior(self, prior):
    """UserError unless `prior` is one of `prior_names()`."""
    names = self.prior_names()
    if prior in names:
      return
    if prior not in PRIORS:
      raise UserError(f"prior={prior!r} is unknown; valid: 'model' (the model's own "
                      "prior p(z)) or 'aux' (its auxiliary prior).")
    if not names:
      raise UserError(f'prior={prior!r}: model {self.display_name!r} has no latents, '
                      "so no prior to sample; the priors 'model' and 'aux' belong to "
                      'latent-variable models.')
    raise UserError(f'prior={prior!r}: model {self.display_name!r} has no auxiliary '
                    f"prior; valid: {', '.join(repr(n) for n in names)}.")

  def sample_prior(self, n, seed, prior='model'):
    """z `[n, ...]` from the prior named `prior`; UserError without latents."""
    self.check_prior(prior)
    raise NotImplementedError

  def summary(self):
    """One line: name, parameter count."""
    return f'{self.display_name}: {count_parameters(self):,} parameters'


class LatentVariableModel(Model):
  """A model with a posterior q(z|x), a prior p(z) and a likelihood p(x|z)."""

  has_latents = True
  data_feature = 'image'   # the feature p(x|z) models (text problems: 'targets')

  def encode(self, features, training, seed):
    """Posterior q(z|x) as a `tfd.Distribution` with event shape [n, d] (or [d])."""
    raise NotImplementedError

  def prior(self):
    """Prior p(z) as a `tfd.Distribution` with the posterior's event shape."""
    raise NotImplementedError

  def likelihood(self, features, z, training, seed):
    """Likelihood p(x|z) as a `tfd.Distribution` over the features' data tensor."""
    raise NotImplementedError

  def named_prior(self, prior='model'):
    """The prior named `prior` (`PRIORS`): `prior()` for 'model', `aux_prior` for
    'aux'. Both have `log_prob(z)` `[N]` and `sample(n, seed=seed)` `[n, ...]`."""
    self.check_prior(prior)
    return self.aux_prior if prior == 'aux' else self.prior()

  def sample_prior(self, n, seed, prior='model'):
    """z `[n, ...]` from the prior named `prior` ('model' or 'aux'); seed int32 [2]."""
    return self.named_prior(prior).sample(n, seed=seed)

  def log_likelihood(self, features, z, training=False, seed=None):
    """log p(x | z) `[B]` nats for latents z `[B, ...]`.

    Images: the likelihood's log-probability of the data feature. Text: the token
    log-probabilities summed over the real tokens (`features['mask']`).
    """
    if seed is None:
      seed = tf.constant([0, 0], tf.int32)
    likelihood = self.likelihood(features, z, training, seed)
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


class DeltaVaeModel(LatentVariableModel):
  """A δ-VAE: its latents are one `distributions.LatentSpec` (`self.latent`, set by
  the model), which fixes the prior, the posterior family and the committed rate."""

  latent = None

  @property
  def prior_type(self):
    return self.latent.prior_type

  @property
  def posterior_type(self):
    return self.latent.posterior_type

  @property
  def alphas(self):
    """float32 `[d]` AR(1) correlations of the prior (zeros for a standard normal)."""
    return self.latent.alphas

  @property
  def alphas_np(self):
    """float64 numpy `[d]`: the same α's."""
    return self.latent.alphas_np

  def prior(self):
    """p(z) (an `AR1Prior`; all α = 0: N(0, I)), event `[n, d]`."""
    return self.latent.prior()


class TextDecoderModel(Model):
  """A text model that samples token by token (`t2t_delta.decode.text_sampler`).

  It has `max_length` T and `vocab_size` V, and decodes with

      model.decode_logits(inputs, z=None, position=None)   # full pass, inference mode
      cache = model.init_decode_cache(batch_size, z=None)  # KV cache (static shapes)
      logits, cache = model.decode_step(ids, t, cache)     # one position

  `inputs` are decoder inputs `[B, T]` (targets shifted right; id 0 at position 0 is
  the start symbol), and the logits at position t predict target t. z is `[B, T, d]`
  for latent models (`delta_vae_text`) and None for `ar_text`.
  """

  max_length = None
  vocab_size = None

  def decode_logits(self, inputs, z=None, position=None):
    """float32 inference-mode logits `[B, T, V]`, or `[B, V]` at `position`."""
    raise NotImplementedError

  def init_decode_cache(self, batch_size, z=None):
    """The decoder's cache before position 0 (a nest of static-shape tensors)."""
    raise NotImplementedError

  def decode_step(self, ids, t, cache):
    """`(logits [B, V] float32 of position t, cache)` given ids `[B]` at t - 1 (the
    start id 0 at t = 0)."""
    raise NotImplementedError


def count_parameters(module):
  """Number of trainable scalars of a `tf.Module`."""
  return sum(int(tf.size(v)) for v in module.trainable_variables)
