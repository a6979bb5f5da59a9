"""Image modes of the decoder binary: samples, multiple decodes, day dreams,
reconstructions and interpolations (paper figures 3 and 8-11).

Every mode decodes with the cached sampler (`image_sampler.sample_cached`) in
batches of --batch_size (the last batch is padded, so the loop is traced once) and
writes a PNG grid to --to_file (default `<output_dir>/<mode>.png`) and, beside it,
an .npz with the raw uint8 images (`images`, laid out as the grid's tiles, plus the
mode's own arrays listed below). Latents come from --prior (`model`: the model's own
prior p(z); `aux`: its auxiliary LSTM prior) or from the posterior of --split images.
Models whose p(x|z) is factorised given z (`vae_conv`: no autoregressive decoder) are
sampled from `model.likelihood` directly (`decode_any`).

* `sample`: --num_samples images, each from its own latent (none for `ar_image`),
  in a near-square grid (empty tiles grey). npz: images `[N, H, W, C]`, z.
* `multi_decode`: --num_samples latents from the prior, each decoded
  `DECODES_PER_LATENT` times; row r holds the decodes of latent r (global
  structure shared along a row, details differ; figure 3a). npz: images
  `[N, D, H, W, C]`, z.
* `daydream`: starts from the first --num_samples --split images and alternates
  z ~ q(z | x), x ~ p(x | z) for --num_steps steps; row r is the chain of image r,
  starting with the image itself (figure 8, top right). npz: images
  `[N, S + 1, H, W, C]`, z `[N, S, ...]`.
* `reconstruct`: the first `NUM_INPUTS` --split images and --num_samples
  reconstructions of each, each decoded from its own posterior sample z ~ q(z | x)
  (figure 8, bottom). With --occlude=bottom_half, the bottom half of each input is
  greyed out (value 128) and the latents are inferred from the *occluded* image, so
  the reconstructions show what the latents of the visible half imply for the
  whole image (the decoder generates every pixel, including the visible half).
  Row: input, [occluded input,] reconstructions. npz: images `[N, cols, H, W, C]`,
  inputs, occluded (with --occlude), reconstructions `[N, S, H, W, C]`.
* `interpolate`: for rows r = 0..--num_samples - 1 (as many as --split allows),
  decodes --num_steps points on the line between the posterior means of --split
  images 2r and 2r + 1, between the two images themselves. Every point of a row is
  decoded with the same sampling noise, so changes along a row come from z alone.
  npz: images `[N, S + 2, H, W, C]`, z `[N, S, ...]`, endpoints `[N, 2, H, W, C]`.

Seeds: --seed is folded with a purpose (prior, posterior, decoder) and the batch
index, so the same flags give the same images.
"""

import math
import os

import numpy as np
import tensorflow as tf

from t2t_delta.decode import image_sampler
from t2t_delta.decode import mode_common
from t2t_delta.decode import pictures
from t2t_delta.errors import UserError
from t2t_delta.problems import base as problems_base

MODES = ('sample', 'multi_decode', 'daydream', 'reconstruct', 'interpolate')
LATENT_MODES = ('multi_decode', 'daydream', 'reconstruct', 'interpolate')
INPUT_MODES = ('daydream', 'reconstruct', 'interpolate')
OCCLUSIONS = ('bottom_half',)
DECODES_PER_LATENT = 4
NUM_INPUTS = 8
OCCLUSION_VALUE = 128

_PRIOR, _POSTERIOR, _DECODE = range(3)
_INT32_MIN, _INT32_MAX = -2**31, 2**31 - 1


# ---- option checks ----------------------------------------------------------------------
def check_options(options, problem, model):
  """Raise a one-line UserError for options this run cannot decode.

  With problem=None and model=None only the flags are checked (mode, occlusion,
  split, seed, output file); with the loaded run also the model's abilities
  (autoregressive image decoder, latents, auxiliary prior) and the --split size.
  """
  mode = options['mode']
  if mode not in MODES:
    raise UserError(f'--mode={mode} is a text mode; image runs support '
                    f'--mode={"|".join(MODES)}.')
  occlude = options.get('occlude')
  if occlude is not None and occlude not in OCCLUSIONS:
    raise UserError(f'--occlude={occlude} is unknown; valid: '
                    f'{", ".join(OCCLUSIONS)}.')
  if occlude and mode != 'reconstruct':
    raise UserError(f'--occlude applies to --mode=reconstruct only, not '
                    f'--mode={mode}; drop it.')
  if options.get('from_file'):
    raise UserError('--from_file is read by text modes only; image modes take their '
                    'inputs from --split.')
  if options.get('split') not in problems_base.SPLITS:
    raise UserError(f'--split={options.get("split")} is unknown; valid splits: '
                    f'{", ".join(problems_base.SPLITS)}.')
  if not _INT32_MIN <= int(options.get('seed', 0)) <= _INT32_MAX:
    raise UserError(f'--seed={options["seed"]} must fit in 32 bits '
                    f'({_INT32_MIN}..{_INT32_MAX}).')
  for name in ('num_samples', 'num_steps', 'batch_size'):
    if int(options.get(name, 1)) < 1:
      raise UserError(f'--{name}={options[name]} must be >= 1.')
  if not 0 < float(options.get('temperature', 1.0)) < float('inf'):
    raise UserError(f'--temperature={options["temperature"]} must be finite and > 0.')
  _check_to_file(options.get('to_file'))
  if problem is None or model is None:
    return

  name = repr(model.display_name)
  try:
    image_sampler.check_model(model)
  except UserError as e:
    raise UserError(str(e).splitlines()[0]) from None
  if mode in LATENT_MODES and not model.has_latents:
    raise UserError(f'--mode={mode} needs a latent-variable model; {name} has no '
                    'latents (use --mode=sample).')
  if (model.has_latents and mode in ('sample', 'multi_decode')
      and options['prior'] == 'aux' and model.aux_prior is None):
    raise UserError(f'--prior=aux needs a model with an auxiliary prior; {name} has '
                    'none (use --prior=model).')
  if mode in INPUT_MODES:
    available = problem.num_examples(options['split'])
    needed = 2 if mode == 'interpolate' else 1
    if available is not None and available < needed:
      raise UserError(f'--mode={mode} needs at least {needed} {options["split"]} '
                      f'image(s); the problem has {available}.')


def _check_to_file(path):
  if not path:
    return
  if not path.lower().endswith('.png'):
    raise UserError(f'--to_file={path} must be a .png file (an .npz of the raw images '
                    'is written beside it).')
  mode_common.check_to_file(path, 'samples.png')


def output_path(options):
  """--to_file, or `<output_dir>/<mode>.png` (output_dir: the run, else '.')."""
  if options.get('to_file'):
    return options['to_file']
  return os.path.join(options.get('output_dir') or '.', f'{options["mode"]}.png')


# ---- running ----------------------------------------------------------------------------
def run(options, problem, model):
  """Decode what `options['mode']` asks for; write the PNG grid and the .npz."""
  check_options(options, problem, model)
  grid, arrays = _MODES[options['mode']](options, problem, model)
  png, npz = pictures.write_png_and_npz(output_path(options), grid, **arrays)
  print(f'Wrote {png} and {npz}.', flush=True)
  return png, npz


def decode(model, z, options, seed_path=(), num_images=None):
  """uint8 `[N, H, W, C]` images sampled from p(x | z) with the cached sampler.

  `z` `[N, ...]` (numpy or tensor), or None with `num_images` for models without
  latents. Batch k uses the seed `(--seed, _DECODE, *seed_path, k)`.
  """
  num = int(z.shape[0]) if z is not None else int(num_images)
  z = None if z is None else np.asarray(z, np.float32)
  out = []
  for k, rows, count in mode_common.rows_in_batches(num, int(options['batch_size'])):
    images = image_sampler.sample_cached(
        model, None if z is None else tf.constant(z[rows]),
        mode_common.option_seed(options, _DECODE, *seed_path, k),
        temperature=float(options['temperature']), batch_size=len(rows))
    out.append(images.numpy()[:count])
  return np.concatenate(out, axis=0)


def decode_any(model, z, options, num_images=None, seed_path=()):
  """uint8 `[N, H, W, C]` from p(x|z): the cached sampler of the model's
  `image_decoder`, or, for models without one (p(x|z) factorised given z), a sample of
  `model.likelihood`."""
  if model.image_decoder is not None:
    return decode(model, z, options, seed_path=seed_path, num_images=num_images)
  shape = (len(z),) + tuple(model.image_shape)
  likelihood = model.likelihood({'image': tf.zeros(shape, tf.uint8)}, tf.constant(z),
                                training=False, seed=tf.constant([0, 0], tf.int32))
  sample = likelihood.sample(seed=mode_common.option_seed(options, 2, *seed_path))
  return np.clip(np.asarray(sample), 0, 255).astype(np.uint8)


def prior_sample(model, num, options, *path):
  """float32 `[num, ...]` latents from --prior ('model' or 'aux')."""
  z = model.sample_prior(num, mode_common.option_seed(options, _PRIOR, *path),
                         prior=options.get('prior', 'model'))
  return np.asarray(z, np.float32)


def _encode_in_batches(model, images, options, fn):
  out = []
  batch_size = int(options['batch_size'])
  for _, rows, count in mode_common.rows_in_batches(len(images), batch_size):
    out.append(np.asarray(fn(tf.constant(images[rows]), rows), np.float32)[:count])
  return np.concatenate(out, axis=0)


def posterior_sample(model, images, options, *path):
  """One z ~ q(z | x) per uint8 image `[N, H, W, C]`."""
  def fn(batch, rows):
    seed = mode_common.option_seed(options, _POSTERIOR, *path, int(rows[0]))
    return model.encode({'image': batch}, training=False, seed=seed).sample(seed=seed)
  return _encode_in_batches(model, images, options, fn)


def posterior_mean(model, images, options):
  """Posterior means `[N, ...]` of uint8 images `[N, H, W, C]`."""
  return _encode_in_batches(model, images, options,
                            lambda batch, _: model.posterior_mean({'image': batch}))


def first_examples(problem, split, num):
  """The first `num` examples of `split` as a dict of numpy arrays `[n, ...]`."""
  arrays = problem.arrays(split)
  if arrays is not None:
    return {k: np.asarray(v[:num]) for k, v in arrays.items()}
  batches = list(problem.examples(split).take(num).batch(max(num, 1)).as_numpy_iterator())
  return batches[0] if batches else {}


def load_images(problem, split, num):
  """The first `num` images of `split`, uint8 `[n, H, W, C]` (n <= num)."""
  images = first_examples(problem, split, num).get('image')
  if images is None:
    raise UserError(f'--split={split} has no images.')
  return np.asarray(images, np.uint8)


def occlude_bottom_half(images):
  """Copies of uint8 images `[..., H, W, C]` with rows >= H // 2 set to grey."""
  occluded = np.array(images, np.uint8, copy=True)
  height = occluded.shape[-3]
  occluded[..., height // 2:, :, :] = OCCLUSION_VALUE
  return occluded


def _square_grid(images):
  """`[N, H, W, C]` -> `[rows, cols, H, W, C]`, padding empty tiles with grey."""
  num = len(images)
  cols = int(math.ceil(math.sqrt(num)))
  rows = int(math.ceil(num / cols))
  grid = np.full((rows * cols,) + images.shape[1:], pictures.SEPARATOR_VALUE, np.uint8)
  grid[:num] = images
  return grid.reshape((rows, cols) + images.shape[1:])


# ---- the modes --------------------------------------------------------------------------
def sample_images(options, problem, model):
  del problem
  num = int(options['num_samples'])
  if model.has_latents:
    z = prior_sample(model, num, options)
    images = decode(model, z, options)
    return _square_grid(images), {'images': images, 'z': z}
  images = decode(model, None, options, num_images=num)
  return _square_grid(images), {'images': images}


def multi_decode(options, problem, model, decodes_per_latent=DECODES_PER_LATENT):
  del problem
  num = int(options['num_samples'])
  z = prior_sample(model, num, options)
  repeated = np.repeat(z, decodes_per_latent, axis=0)
  images = decode(model, repeated, options)
  images = images.reshape((num, decodes_per_latent) + images.shape[1:])
  return images, {'z': z}


def daydream(options, problem, model):
  inputs = load_images(problem, options['split'], int(options['num_samples']))
  steps = int(options['num_steps'])
  chain, latents = [inputs], []
  for step in range(steps):
    z = posterior_sample(model, chain[-1], options, step)
    latents.append(z)
    chain.append(decode(model, z, options, seed_path=(step,)))
  images = np.stack(chain, axis=1)
  return images, {'z': np.stack(latents, axis=1)}


def reconstruct(options, problem, model, num_inputs=NUM_INPUTS):
  inputs = load_images(problem, options['split'], num_inputs)
  num = len(inputs)
  per_input = int(options['num_samples'])
  occluded = occlude_bottom_half(inputs) if options.get('occlude') else None
  source = inputs if occluded is None else occluded
  # Posterior samples: row-major [input, sample], one sample per repeated input.
  repeated = np.repeat(source, per_input, axis=0)
  z = posterior_sample(model, repeated, options)
  recon = decode(model, z, options).reshape((num, per_input) + inputs.shape[1:])
  columns = [inputs[:, None]] + ([occluded[:, None]] if occluded is not None else [])
  images = np.concatenate(columns + [recon], axis=1)
  arrays = {'inputs': inputs, 'reconstructions': recon,
            'z': z.reshape((num, per_input) + z.shape[1:])}
  if occluded is not None:
    arrays['occluded'] = occluded
  return images, arrays


def interpolate(options, problem, model):
  wanted = int(options['num_samples'])
  inputs = load_images(problem, options['split'], 2 * wanted)
  rows = len(inputs) // 2
  inputs = inputs[:2 * rows]
  first, last = inputs[0::2], inputs[1::2]
  means = posterior_mean(model, inputs, options)
  start, end = means[0::2], means[1::2]
  steps = int(options['num_steps'])
  fractions = np.linspace(0., 1., steps) if steps > 1 else np.array([0.5])
  columns, latents = [], []
  for t in fractions:
    z = ((1. - t) * start + t * end).astype(np.float32)
    latents.append(z)
    # The same seed path for every column: equal noise along each row.
    columns.append(decode(model, z, options))
  decoded = np.stack(columns, axis=1)
  images = np.concatenate([first[:, None], decoded, last[:, None]], axis=1)
  return images, {'z': np.stack(latents, axis=1), 'fractions': fractions,
                  'endpoints': np.stack([first, last], axis=1)}


_MODES = {
    'sample': sample_images,
    'multi_decode': multi_decode,
    'daydream': daydream,
    'reconstruct': reconstruct,
    'interpolate': interpolate,
}
