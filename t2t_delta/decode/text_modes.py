r"""Text modes of the decoder binary: sample, interpolate, complete, reconstruct.

Every mode decodes with the cached incremental sampler
(`t2t_delta.decode.text_sampler.sample_cached`) at --temperature, generating at most
--max_length tokens (default and upper bound: the problem's max_length), in batches of
--batch_size rows. Output is text, one generated sentence per line, rendered with the
problem's `decode` (so words appear as the tokeniser sees them: lower-cased,
out-of-vocabulary words as the problem's unknown token); it goes to --to_file (written
atomically: a reader never sees half a file) or to stdout. A sentence that ends at
once is an empty line, so line counts are always exact.

Modes and what each line holds:

  sample        --num_samples lines, one sample each. Latent models draw z [T, d]
                from --prior: `model` is the model's own prior p(z) (the AR(1)
                process, or N(0, I) for prior_type='standard_normal'), `aux` the
                auxiliary LSTM prior. `ar_text` has no latents and samples the
                language model alone.
  interpolate   --num_steps lines (figures 12-13 of the δ-VAE paper). One latent
                sequence z is drawn from --prior; dimension --dim of z is then set, at
                every position, to values swept linearly from μ - 3σ to μ + 3σ of the
                prior's marginal (N(0, 1) for the AR(1) prior; the same range is used
                for --prior=aux, whose marginal has no closed form), the other
                dimensions held fixed. Line k is decoded from the k-th value. With
                --num_steps=1 the single value is μ.
  complete      --num_steps lines per prime, primes in file order (figure 14). Each
                non-blank line of --from_file is tokenised with the problem's `encode`
                and forced as the first tokens; the rest is sampled. For each prime two
                latent sequences z_a, z_b are drawn from --prior and line k of its
                block is decoded under z(λ_k) = (1 - λ_k) z_a + λ_k z_b, with λ over
                --num_steps values evenly spaced in [0, 1]. A line is the whole
                sentence, prime included. Without latents (`ar_text`) the lines are
                --num_steps independent completions.
  reconstruct   --num_samples lines per input sentence, inputs in file order, each
                `input<TAB>reconstruction` (`cut -f2` gives the reconstructions). Each
                reconstruction uses its own posterior sample z ~ q(z|x) (as the
                paper's image reconstructions do: the spread between them shows what
                the latents do not pin down). The posterior covers the L tokens of the
                input (EOS included); positions after L, which a longer reconstruction
                reaches, continue z with the prior's conditional p(z_t | z_{t-1})
                (the AR(1) transition; N(0, I) for a standard-normal prior).

Input files (--from_file) are UTF-8 text, one prime or sentence per line; blank lines
are skipped (error messages still name lines by their number in the file). A prime
may have at most --max_length - 1 tokens (at least one position is left to generate);
a sentence to reconstruct at most the problem's max_length - 1 (EOS takes the last).

Randomness. Everything derives from --seed through stateless seeds: the same run,
flags and --batch_size give identical output; another --seed gives other samples.
Each batch of rows has its own seeds, so changing --batch_size changes which random
numbers a row receives.
"""

import os
import sys

import numpy as np
import tensorflow as tf

from t2t_delta.decode import mode_common
from t2t_delta.decode import text_sampler
from t2t_delta.errors import UserError
from t2t_delta.models import base
from t2t_delta.runtime import files

MODES = ('sample', 'interpolate', 'complete', 'reconstruct')
IMAGE_ONLY_MODES = ('multi_decode', 'daydream')
FILE_MODES = ('complete', 'reconstruct')
IMAGE_EXTENSIONS = ('.png', '.npz', '.jpg', '.jpeg')
SWEEP_SIGMAS = 3.0

# Purposes folded into the --seed, so that latents, posterior samples and decoder
# samples never share random numbers.
_LATENT, _LATENT_B, _POSTERIOR, _DECODE = range(4)
_INT32_MIN, _INT32_MAX = -2**31, 2**31 - 1


# ---- option checks --------------------------------------------------------------------
def check_options(options, problem, model):
  """Raise a one-line UserError for options this run cannot decode.

  With problem=None and model=None (before the run is loaded) only what needs no model
  is checked: the mode, flag ranges and the input and output files. With the loaded
  problem and model also the model's abilities (latents, auxiliary prior), --max_length,
  --dim and the lengths of the input lines.
  """
  mode = options['mode']
  if mode not in MODES:
    raise UserError(f'--mode={mode} is an image mode; text runs support '
                    f'--mode={"|".join(MODES)}.')
  if options.get('occlude'):
    raise UserError('--occlude applies to image reconstruct only; drop it for a '
                    'text run.')
  if options.get('max_length') is not None and options['max_length'] < 1:
    raise UserError(f'--max_length={options["max_length"]} must be >= 1.')
  if not _INT32_MIN <= options['seed'] <= _INT32_MAX:
    raise UserError(f'--seed={options["seed"]} must fit in 32 bits '
                    f'({_INT32_MIN}..{_INT32_MAX}).')
  if mode == 'interpolate' and options['dim'] < 0:
    raise UserError(f'--dim={options["dim"]} must be >= 0 (a latent dimension).')
  if mode in FILE_MODES:
    _read_lines(options['from_file'], mode)
  elif options.get('from_file'):
    raise UserError(f'--from_file is read by --mode=complete and reconstruct only, '
                    f'not --mode={mode}; drop it.')
  _check_to_file(options.get('to_file'))
  if problem is None or model is None:
    return

  _check_decoder(model)
  name = repr(model.display_name)
  max_length = _max_length(options, problem)
  if mode in ('interpolate', 'reconstruct') and not model.has_latents:
    raise UserError(f'--mode={mode} needs a latent-variable model; {name} has no '
                    'latents (use --mode=sample or complete).')
  if mode in ('sample', 'interpolate', 'complete') and options['prior'] == 'aux':
    if model.aux_prior is None:
      raise UserError(f'--prior=aux needs a model with an auxiliary prior; {name} has '
                      'none (use --prior=model).')
  if mode == 'interpolate':
    dims = int(model.latent_dim)
    if options['dim'] >= dims:
      raise UserError(f'--dim={options["dim"]} is out of range: {name} has '
                      f'latent_dim={dims}, valid --dim are 0..{dims - 1}.')
  if mode == 'complete':
    _encode_primes(options, problem, max_length)
  if mode == 'reconstruct':
    _encode_sentences(options, problem)


def _check_decoder(model):
  if not isinstance(model, base.TextDecoderModel):
    raise UserError(f'model {model.display_name!r} has no autoregressive text decoder; '
                    'the text modes decode delta_vae_text and ar_text runs.')


def _max_length(options, problem):
  limit = int(problem.max_length)
  value = options.get('max_length')
  if value is None:
    return limit
  if not 1 <= value <= limit:
    raise UserError(f'--max_length={value} is out of range: the problem '
                    f'{problem.registered_name!r} has max_length {limit}; pass '
                    f'1..{limit}.')
  return int(value)


def _check_to_file(path):
  if not path:
    return
  if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
    raise UserError(f'--to_file={path}: text modes write text, one sample per line; '
                    'pass a .txt name.')
  mode_common.check_to_file(path, 'samples.txt')


def _read_lines(path, mode):
  """[(line number, text)] of the non-blank lines of --from_file."""
  what = 'prime' if mode == 'complete' else 'sentence'
  if not path:
    raise UserError(f'--mode={mode} needs --from_file: a text file with one {what} '
                    'per line.')
  if not os.path.isfile(path):
    raise UserError(f'--from_file={path} does not exist or is not a file; pass a '
                    f'text file with one {what} per line.')
  try:
    with open(path, encoding='utf-8') as f:
      text = f.read()
  except UnicodeDecodeError as e:
    raise UserError(f'--from_file={path} is not UTF-8 text ({e.reason} at byte '
                    f'{e.start}).') from None
  except OSError as e:
    raise UserError(f'--from_file={path} cannot be read ({e.strerror}).') from None
  lines = [(number, line.strip()) for number, line in
           enumerate(text.splitlines(), start=1) if line.strip()]
  if not lines:
    raise UserError(f'--from_file={path} is empty; it needs one {what} per line.')
  return lines


def _encode_primes(options, problem, max_length):
  """[(line number, text, ids)]; UserError naming the first prime that is too long."""
  return _encode_lines(
      options, problem, 'complete', max_length - 1,
      lambda limit: f'a prime may have at most {limit} (--max_length={max_length} minus '
      'one position to complete). Shorten the prime or raise --max_length.')


def _encode_sentences(options, problem):
  """[(line number, text, ids)]; UserError naming the first sentence that is too long."""
  return _encode_lines(
      options, problem, 'reconstruct', int(problem.max_length) - 1,
      lambda limit: f'sentences to reconstruct may have at most {limit} (the problem\'s '
      f'max_length {problem.max_length} includes the end-of-sentence token).')


def _encode_lines(options, problem, mode, limit, rule):
  """The ids of every line of --from_file; UserError (`rule(limit)` says the rule) for
  the first line with more than `limit` tokens."""
  lines = []
  for number, text in _read_lines(options['from_file'], mode):
    ids = [int(i) for i in problem.text_to_ids(text)]
    if len(ids) > limit:
      raise UserError(f'line {number} of {options["from_file"]} has {len(ids)} tokens; '
                      f'{rule(limit)}')
    lines.append((number, text, ids))
  return lines


# ---- running --------------------------------------------------------------------------
def run(options, problem, model):
  """Decode what `options['mode']` asks for and write one line per sample."""
  check_options(options, problem, model)
  lines = _MODES[options['mode']](options, problem, model)
  _write(lines, options.get('to_file'))


def _generate(options, problem, model, num_rows, inputs_fn):
  """Decodes `num_rows` rows and returns their texts.

  inputs_fn(batch index, rows) -> dict of `sample_cached` inputs (z, prime_ids,
  prime_length) for those rows, or an empty dict.
  """
  max_length = _max_length(options, problem)
  texts = []
  for k, rows, count in mode_common.rows_in_batches(num_rows, options['batch_size']):
    inputs = inputs_fn(k, rows)
    out = text_sampler.sample_cached(
        model, seed=mode_common.option_seed(options, _DECODE, k), batch_size=len(rows),
        temperature=float(options['temperature']), max_length=max_length, **inputs)
    tokens = out['tokens'].numpy()
    lengths = out['lengths'].numpy()
    for b in range(count):
      texts.append(_render(problem, tokens[b, :lengths[b]]))
  return texts


def _render(problem, ids):
  """One line of text for token ids (newlines and tabs would break the format)."""
  text = problem.ids_to_text([int(i) for i in ids])
  return ' '.join(text.split()) if any(c in text for c in '\t\n\r') else text


def _prior_sample(options, model, batch_size, *path):
  """z [B, T, d] float32 from --prior."""
  seed = mode_common.option_seed(options, *path)
  z = model.sample_prior(batch_size, seed, prior=options['prior'])
  return tf.cast(z, tf.float32)


def _sample(options, problem, model):
  def inputs(k, rows):
    if not model.has_latents:
      return {}
    return {'z': _prior_sample(options, model, len(rows), _LATENT, k)}

  return _generate(options, problem, model, options['num_samples'], inputs)


def _sweep_values(center, scale, num_steps):
  """[num_steps, ...] values from center - 3 scale to center + 3 scale (center if 1)."""
  if num_steps == 1:
    return center[None]
  fractions = np.linspace(-1.0, 1.0, num_steps).reshape((-1,) + (1,) * center.ndim)
  return center[None] + SWEEP_SIGMAS * fractions * scale[None]


def interpolation_latents(z, mean, stddev, dim, num_steps):
  """[num_steps, T, d] copies of z [T, d] with dimension `dim` swept at every position.

  Step k sets z[:, dim] to mean + 3 stddev (2k / (num_steps - 1) - 1) (mean and stddev
  [T, d], the prior's marginal); the other dimensions keep their values.
  """
  z = np.asarray(z, np.float32)
  mean = np.broadcast_to(np.asarray(mean, np.float32), z.shape)[:, dim]
  stddev = np.broadcast_to(np.asarray(stddev, np.float32), z.shape)[:, dim]
  sweep = np.repeat(z[None], num_steps, axis=0)
  sweep[:, :, dim] = _sweep_values(mean, stddev, num_steps)
  return sweep


def _interpolate(options, problem, model):
  z = _prior_sample(options, model, 1, _LATENT).numpy()[0]          # [T, d]
  prior = model.prior()
  sweep = interpolation_latents(z, prior.mean().numpy(), prior.stddev().numpy(),
                                options['dim'], options['num_steps'])
  steps = options['num_steps']
  return _generate(options, problem, model, steps,
                   lambda k, rows: {'z': tf.constant(sweep[rows])})


def _complete(options, problem, model):
  max_length = _max_length(options, problem)
  primes = _encode_primes(options, problem, max_length)
  steps = options['num_steps']
  width = int(problem.max_length)
  prime_ids = np.zeros([len(primes), width], np.int32)
  prime_length = np.zeros([len(primes)], np.int32)
  for i, (_, _, ids) in enumerate(primes):
    prime_ids[i, :len(ids)] = ids
    prime_length[i] = len(ids)
  # Row r decodes prime r // steps under interpolation step r % steps.
  num_rows = len(primes) * steps
  prime_of_row = np.arange(num_rows) // steps
  step_of_row = np.arange(num_rows) % steps
  if model.has_latents:
    z_a = _prior_sample(options, model, len(primes), _LATENT).numpy()
    z_b = _prior_sample(options, model, len(primes), _LATENT_B).numpy()
    lambdas = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros([1])
  else:
    z_a = None

  def inputs(k, rows):
    del k
    out = {'prime_ids': tf.constant(prime_ids[prime_of_row[rows]]),
           'prime_length': tf.constant(prime_length[prime_of_row[rows]])}
    if z_a is not None:
      lam = lambdas[step_of_row[rows]][:, None, None].astype(np.float32)
      p = prime_of_row[rows]
      out['z'] = tf.constant((1.0 - lam) * z_a[p] + lam * z_b[p], tf.float32)
    return out

  return _generate(options, problem, model, num_rows, inputs)


def _reconstruct(options, problem, model):
  sentences = _encode_sentences(options, problem)
  copies = options['num_samples']
  width = int(problem.max_length)
  targets = np.zeros([len(sentences), width], np.int32)
  mask = np.zeros([len(sentences), width], np.float32)
  for i, (_, _, ids) in enumerate(sentences):
    targets[i], mask[i] = problem.pad_ids(ids)
  num_rows = len(sentences) * copies
  sentence_of_row = np.arange(num_rows) // copies

  def inputs(k, rows):
    s = sentence_of_row[rows]
    features = {'targets': tf.constant(targets[s]), 'mask': tf.constant(mask[s])}
    # The posterior covers the real steps and continues with the prior after them.
    posterior = model.encode(features, training=False,
                             seed=mode_common.option_seed(options, _POSTERIOR, k, 0))
    return {'z': posterior.sample(seed=mode_common.option_seed(options, _POSTERIOR, k, 1))}

  texts = _generate(options, problem, model, num_rows, inputs)
  inputs_text = [_render(problem, targets[s]) for s in sentence_of_row]
  return [f'{source}\t{text}' for source, text in zip(inputs_text, texts)]


_MODES = {'sample': _sample, 'interpolate': _interpolate, 'complete': _complete,
          'reconstruct': _reconstruct}


def _write(lines, to_file):
  text = ''.join(line + '\n' for line in lines)
  if to_file:
    files.atomic_write(to_file, text)
    print(f'Wrote {len(lines)} lines to {to_file}.', file=sys.stderr, flush=True)
  else:
    sys.stdout.write(text)
    sys.stdout.flush()
