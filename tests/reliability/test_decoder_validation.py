"""Decoder start-up errors: one 'error: ' line, exit 2, the run directory untouched.

Rows run in one helper process (tests/in_process_runner.py with the decoder's flag
parsing and `_main`). Rows that need the decoder's mode modules are skipped until those exist.
"""

import importlib.util
import json
import os

import pytest

import reliability_helpers as h

_HAS_MODES = all(importlib.util.find_spec(f't2t_delta.decode.{m}') is not None
                 for m in ('text_modes', 'image_modes'))
_NEEDS_MODES = ('no_config_yet', 'no_checkpoint', 'text_mode_on_images',
                'occlude_without_reconstruct')

# id: (args, [expected substrings], what --output_dir holds)
ROWS = {
    'missing_output_dir': ([], ['missing --output_dir'], None),
    'not_a_run': (['--output_dir={out}'], ['is not a t2t_delta run directory',
                                           'no run.json'], 'empty'),
    'no_config_yet': (['--output_dir={out}'], ['has no config.gin yet', 'train first'],
                      'run_json'),
    'no_checkpoint': (['--output_dir={out}'], ['no checkpoint in'], 'no_checkpoint'),
    'text_mode_on_images': (['--output_dir={out}', '--mode=complete'],
                            ['--mode=complete is a text mode'], 'no_checkpoint'),
    'occlude_without_reconstruct': (['--output_dir={out}', '--mode=sample',
                                     '--occlude=bottom_half'],
                                    ['--occlude applies to --mode=reconstruct only'],
                                    'no_checkpoint'),
    'bad_temperature': (['--output_dir={out}', '--temperature=0'],
                        ['--temperature=0.0 must be finite and > 0'], 'no_checkpoint'),
    'bad_num_samples': (['--output_dir={out}', '--num_samples=0'],
                        ['--num_samples=0 must be >= 1'], 'no_checkpoint'),
    'infinite_temperature': (['--output_dir={out}', '--temperature=inf'],
                             ['--temperature=inf must be finite and > 0'], 'no_checkpoint'),
    'nan_temperature': (['--output_dir={out}', '--temperature=nan'],
                        ['--temperature=nan must be finite and > 0'], 'no_checkpoint'),
    'unwritable_to_file': (['--output_dir={out}', '--to_file={unwritable}/s.png'],
                           ['--to_file={unwritable}/s.png cannot be written',
                            'permission denied', 'choose another --to_file'],
                           'no_checkpoint'),
}


def _make(out, kind):
  if kind is None:
    return
  os.makedirs(out)
  if kind in ('run_json', 'no_checkpoint'):
    with open(os.path.join(out, 'run.json'), 'w') as f:
      json.dump({'problem': 'tiny_images', 'model': 'vae_conv', 'seed': 0}, f)
  if kind == 'no_checkpoint':
    with open(os.path.join(out, 'config.gin'), 'w') as f:
      f.write('vae_conv.hidden = 8\nvae_conv.latent_dim = 4\n')


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  if importlib.util.find_spec(h.DECODER) is None:
    pytest.skip('t2t_delta.decode.cli does not exist yet')
  base = tmp_path_factory.mktemp('decoder_validation')
  unwritable = h.unwritable_directory(str(base))
  rows, outs = [], {}
  for row_id, (args, _, kind) in ROWS.items():
    if row_id in _NEEDS_MODES and not _HAS_MODES:
      continue
    out = str(base / row_id / 'run')
    outs[row_id] = out
    _make(out, kind)
    rows.append({'id': row_id, 'args': [a.format(out=out, unwritable=unwritable)
                                        for a in args]})
  before = {row_id: h.snapshot(out) for row_id, out in outs.items()}
  results = h.run_in_process(h.DECODER, rows, str(base))
  after = {row_id: h.snapshot(out) for row_id, out in outs.items()}
  return {'results': results, 'before': before, 'after': after, 'unwritable': unwritable}


@pytest.mark.parametrize('row_id', list(ROWS))
def test_decoder_bad_input_is_one_line_error(results, row_id):
  if row_id in _NEEDS_MODES and not _HAS_MODES:
    pytest.skip('needs t2t_delta.decode.text_modes / image_modes (not written yet)')
  result = results['results'][row_id]
  assert result['status'] == 2, result
  assert 'Traceback' not in result['stderr']
  lines = result['stderr'].splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result['stderr']
  for expected in ROWS[row_id][1]:
    assert expected.format(unwritable=results['unwritable']) in lines[0], lines[0]
  assert results['before'][row_id] == results['after'][row_id]
