"""TensorBoard pictures, texts and the KL histogram written at evaluations.

At an evaluation the trainer writes the record's scalars and, through `write_eval`:

* every latent model: `kl_per_dim`, a histogram of the rate of each latent dimension
  (KL(q || p) per dimension in nats per example, averaged over the evaluated split;
  for δ-VAEs the committed part is included).
* image models, once per evaluated step (on the first split evaluated at that step):
  `samples/prior` (x ~ p(x|z), z ~ p(z)), `samples/aux_prior` (z from the auxiliary
  prior, models that have one), `reconstructions` (rows of input, then decodings of
  z ~ q(z|x) of the split's first images) and `multi_decode` (each row decodes one
  prior z several times: what the rows share is what z carries). Models without
  latents (`ar_image`) get `samples/prior` only.
* text models, likewise: `samples/prior`, `samples/aux_prior` and `reconstructions`
  (`input → reconstruction`) as text summaries (Markdown lists).

Images are decoded by the cached sampler of `t2t_delta.decode.image_sampler` in one
batch (one trace for the whole run), text by `t2t_delta.decode.text_sampler`;
decoders that are factorised given z (`vae_conv`, `vae_bow`: no autoregressive
decoder) are sampled from `model.likelihood(...)` directly. Latents and sampling noise
come from the run's --seed and are the same at every evaluation, so TensorBoard shows
the same draws decoded by an improving model.

gin (scope `summaries`): `enabled`, `every_steps`, `num_samples`,
`num_reconstructions`, `num_multi_decode`, `decodes_per_latent`, `temperature`,
`kl_histogram`; see `SummaryConfig`.
"""

import dataclasses

import gin
import numpy as np
import tensorflow as tf

from t2t_delta.decode import image_modes
from t2t_delta.decode import mode_common
from t2t_delta.decode import pictures
from t2t_delta.decode import text_sampler
from t2t_delta.errors import UserError
from t2t_delta.models import base as models_base


@gin.configurable('summaries')
@dataclasses.dataclass
class SummaryConfig:
  """What evaluations add to TensorBoard besides scalars (gin scope `summaries`).

  Attributes:
    enabled: False writes scalars only (no pictures, texts or histogram).
    every_steps: pictures and texts at evaluations whose step is a multiple of this
      (0: at every evaluation); the evaluations at the end of training always get them.
    num_samples: samples from the prior (and as many from the auxiliary prior).
    num_reconstructions: inputs shown with one reconstruction each.
    num_multi_decode: prior latents shown decoded `decodes_per_latent` times (images).
    decodes_per_latent: decodings per latent in `multi_decode`.
    temperature: sampling temperature (> 0) of the decoder.
    kl_histogram: write the KL-per-dimension histogram.
  """
  enabled: bool = True
  every_steps: int = 0
  num_samples: int = 8
  num_reconstructions: int = 8
  num_multi_decode: int = 2
  decodes_per_latent: int = 4
  temperature: float = 1.0
  kl_histogram: bool = True

  def validate(self):
    """One-line UserError naming the binding for a value that cannot be used."""
    for name in ('every_steps', 'num_samples', 'num_reconstructions',
                 'num_multi_decode', 'decodes_per_latent'):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UserError(f'summaries.{name}={value!r} is invalid: expected a non-negative '
                        f'integer (0: none); fix the summaries.{name} binding.')
    t = self.temperature
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 < t < float('inf'):
      raise UserError(f'summaries.temperature={t!r} is invalid: expected a finite number '
                      '> 0; fix the summaries.temperature binding.')

  def pictures_due(self, step, final):
    return self.enabled and (final or not self.every_steps or step % self.every_steps == 0)


def write_eval(config, model, problem, split, step, kl_per_dim, seed, pictures=True):
  """Writes the histogram and (with `pictures`) samples into the default writer.

  Args:
    config: `SummaryConfig`.
    model, problem: the run's model and problem.
    split: the evaluated split (inputs of the reconstructions).
    step: global step of the summaries.
    kl_per_dim: float `[G]` nats per example per latent dimension, or None.
    seed: the run's seed (latents and sampling noise derive from it).
    pictures: also decode samples and reconstructions.
  """
  if not config.enabled:
    return
  if config.kl_histogram and kl_per_dim is not None and np.size(kl_per_dim):
    tf.summary.histogram('kl_per_dim', np.asarray(kl_per_dim, np.float32).reshape(-1),
                         step=step)
  if not pictures:
    return
  if problem.modality == 'image':
    _write_images(config, model, problem, split, step, seed)
  else:
    _write_texts(config, model, problem, split, step, seed)


def _options(config, seed, batch_size, prior='model'):
  """The decoder's option dict (see `t2t_delta.decode.image_modes`)."""
  return {'seed': int(seed), 'prior': prior, 'batch_size': max(int(batch_size), 1),
          'temperature': float(config.temperature)}


# ---- images -------------------------------------------------------------------------------
def _write_images(config, model, problem, split, step, seed):
  n, m = config.num_samples, config.num_reconstructions
  k, d = config.num_multi_decode, config.decodes_per_latent
  if not model.has_latents:
    if n:
      options = _options(config, seed, n)
      images = image_modes.decode_any(model, None, options, num_images=n)
      tf.summary.image('samples/prior', _grid(images[None]), step=step)
    return
  inputs = image_modes.first_examples(problem, split, m).get('image', np.zeros((0,)))[:m]
  m = len(inputs)
  aux = n if 'aux' in model.prior_names() else 0
  options = _options(config, seed, n + aux + k * d + m)
  parts = {'prior': image_modes.prior_sample(model, n, options) if n else None,
           'aux_prior': image_modes.prior_sample(
               model, aux, dict(options, prior='aux')) if aux else None,
           'multi_decode': np.repeat(image_modes.prior_sample(model, k, options, 1), d,
                                     axis=0) if k and d else None,
           'reconstructions': image_modes.posterior_sample(
               model, inputs, dict(options, batch_size=m)) if m else None}
  parts = {name: z for name, z in parts.items() if z is not None}
  if not parts:
    return
  images = image_modes.decode_any(model, np.concatenate(list(parts.values())), options)
  offset = 0
  for name, z in parts.items():
    decoded, offset = images[offset:offset + len(z)], offset + len(z)
    if name == 'reconstructions':
      grid = np.stack([inputs, decoded], axis=1)
    elif name == 'multi_decode':
      grid = decoded.reshape((k, d) + decoded.shape[1:])
    else:
      grid, name = decoded[None], f'samples/{name}'
    tf.summary.image(name, _grid(grid), step=step)


def _grid(images):
  """uint8 `[rows, cols, H, W, C]` -> one `[1, h, w, C]` picture for tf.summary.image."""
  return pictures.tile(images)[None]


# ---- text ---------------------------------------------------------------------------------
def _render(problem, ids):
  ids = [int(i) for i in ids]
  if problem.EOS_ID in ids:
    ids = ids[:ids.index(problem.EOS_ID) + 1]
  return problem.ids_to_text(ids) or '(empty)'


def _decode_texts(model, problem, z, options, num=None):
  """Sentences (str) sampled from p(x|z) (or p(x) without latents)."""
  num = len(z) if z is not None else num
  seed = mode_common.option_seed(options, 2)
  if isinstance(model, models_base.TextDecoderModel):
    out = text_sampler.sample_cached(
        model, seed, z=None if z is None else tf.constant(z, tf.float32),
        batch_size=num, temperature=options['temperature'])
    tokens, lengths = out['tokens'].numpy(), out['lengths'].numpy()
    return [_render(problem, tokens[b, :lengths[b]]) for b in range(num)]
  length = problem.max_length
  features = {'targets': tf.zeros([num, length], tf.int32),
              'mask': tf.ones([num, length], tf.float32)}
  tokens = model.likelihood(features, tf.constant(z), training=False,
                            seed=seed).sample(seed=seed).numpy()
  return [_render(problem, row) for row in tokens]


def _markdown(lines):
  return '\n'.join(f'* {line}' for line in lines)


def _write_texts(config, model, problem, split, step, seed):
  n, m = config.num_samples, config.num_reconstructions
  if n and not model.has_latents:
    options = _options(config, seed, n)
    tf.summary.text('samples/prior', _markdown(_decode_texts(model, problem, None,
                                                              options, num=n)), step=step)
    return
  if n:
    options = _options(config, seed, n)
    z = image_modes.prior_sample(model, n, options)
    tf.summary.text('samples/prior', _markdown(_decode_texts(model, problem, z, options)),
                    step=step)
    if 'aux' in model.prior_names():
      z = image_modes.prior_sample(model, n, dict(options, prior='aux'))
      tf.summary.text('samples/aux_prior',
                      _markdown(_decode_texts(model, problem, z, options)), step=step)
  examples = image_modes.first_examples(problem, split, m)
  if not m or not examples:
    return
  targets, mask = examples['targets'][:m], examples['mask'][:m].astype(np.float32)
  options = _options(config, seed, len(targets))
  seeds = [mode_common.option_seed(options, 3, i) for i in range(2)]
  # A text posterior covers the real steps and continues with the prior after them.
  posterior = model.encode({'targets': tf.constant(targets), 'mask': tf.constant(mask)},
                           training=False, seed=seeds[0])
  z = posterior.sample(seed=seeds[1]).numpy()
  decoded = _decode_texts(model, problem, z, options)
  lines = [f'{_render(problem, t)} → {r}' for t, r in zip(targets, decoded)]
  tf.summary.text('reconstructions', _markdown(lines), step=step)
