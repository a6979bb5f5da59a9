r"""t2t-delta-decoder: samples, interpolations, completions and reconstructions.

    t2t-delta-decoder --output_dir=runs/tiny --mode=sample --prior=aux \
        --num_samples=16 --to_file=samples.png
    t2t-delta-decoder --output_dir=runs/text --mode=interpolate --dim=0 \
        --to_file=interp.txt

The model is rebuilt from the run's `config.gin` and latest checkpoint, loaded once,
and decoded in batches. Text modes write one sample per line (stdout without
--to_file); image modes write a PNG grid and an .npz of the raw uint8 images.

Modes by modality:
  text:  sample, interpolate, complete, reconstruct
  image: sample, multi_decode, daydream, reconstruct, interpolate
"""

import math
import sys

from absl import flags

from t2t_delta import cli_common
from t2t_delta.errors import UserError

MODES = ('sample', 'interpolate', 'complete', 'reconstruct', 'multi_decode', 'daydream')

FLAGS = flags.FLAGS
flags.DEFINE_string('output_dir', None, 'Directory of a training run (with run.json, '
                    'config.gin and checkpoints).')
flags.DEFINE_enum('mode', 'sample', MODES, 'What to decode (see the module help for the '
                  'modes of each modality).')
flags.DEFINE_enum('prior', 'model', ('model', 'aux'), 'Prior to sample latents from: '
                  "'model' (the model's own prior p(z)) or 'aux' (the auxiliary LSTM "
                  'prior).')
flags.DEFINE_integer('num_samples', 8, 'Number of samples (sample mode), of latents '
                     '(multi_decode), or of reconstructions per input (reconstruct).')
flags.DEFINE_integer('num_steps', 8, 'Interpolation steps (interpolate) or day-dream '
                     'iterations (daydream).')
flags.DEFINE_integer('dim', 0, 'Latent dimension swept by text interpolation (the '
                     'other dimensions stay fixed).')
flags.DEFINE_string('from_file', None, 'Input lines: primes (complete) or sentences '
                    '(reconstruct) for text.')
flags.DEFINE_string('to_file', None, 'Output file: .txt for text (default stdout), '
                    '.png for images (an .npz of raw uint8 images is written beside it).')
flags.DEFINE_float('temperature', 1.0, 'Sampling temperature (> 0) of the decoder.')
flags.DEFINE_integer('max_length', None, 'Maximum generated length in tokens (text; '
                     'default and upper bound: the problem\'s max_length).')
flags.DEFINE_string('occlude', None, "Occlusion for image reconstruct: 'bottom_half'.")
flags.DEFINE_string('split', 'test', 'Split to take inputs from for image reconstruct, '
                    'interpolate and daydream.')
flags.DEFINE_integer('batch_size', 16, 'Decoding batch size.')
flags.DEFINE_integer('seed', 0, 'Random seed of the sampler.')
flags.DEFINE_multi_string('gin_param', [], 'Gin binding applied on top of the run\'s '
                          'config.gin (repeatable).')


TOOL = cli_common.Tool('t2t-delta-decoder', __doc__, anchor_flag='occlude')
parse_flags = TOOL.parse_flags


def _options():
  if not 0 < FLAGS.temperature < math.inf:
    raise UserError(f'--temperature={FLAGS.temperature} must be finite and > 0.')
  for name in ('num_samples', 'num_steps', 'batch_size'):
    if getattr(FLAGS, name) < 1:
      raise UserError(f'--{name}={getattr(FLAGS, name)} must be >= 1.')
  return {name: getattr(FLAGS, name) for name in (
      'output_dir', 'mode', 'prior', 'num_samples', 'num_steps', 'dim', 'from_file',
      'to_file', 'temperature', 'max_length', 'occlude', 'split', 'batch_size', 'seed')}


def _modes_for(modality):
  # pylint: disable=g-import-not-at-top
  if modality == 'text':
    from t2t_delta.decode import text_modes as modes
  else:
    from t2t_delta.decode import image_modes as modes
  return modes


def run(argv):
  del argv
  # pylint: disable=g-import-not-at-top
  from t2t_delta import registry
  from t2t_delta.runtime import run_dir, run_setup
  if not FLAGS.output_dir:
    raise UserError('missing --output_dir (the directory of a training run).')
  options = _options()
  # Check flag combinations that need no model before loading anything.
  info = run_dir.read_run_info(FLAGS.output_dir) or {}
  if info:
    modality = registry.problem(info['problem']).modality
    _modes_for(modality).check_options(options, None, None)
  # The run is loaded read-only; the decodings go to --to_file (images without it:
  # <output_dir>/<mode>.png).
  setup, model, checkpoint = run_setup.load_run(FLAGS.output_dir, FLAGS.gin_param)
  modes = _modes_for(setup.problem.modality)
  modes.check_options(options, setup.problem, model)
  print(f'Loaded {checkpoint} ({model.summary()}).', file=sys.stderr, flush=True)
  modes.run(options, setup.problem, model)
  return 0


_main = TOOL.guarded(run)
main = TOOL.console_script(_main)


if __name__ == '__main__':
  main()
