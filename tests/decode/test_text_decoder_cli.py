"""The decoder binary's text modes end to end, on one tiny trained delta_vae_text run.

TensorFlow start-up dominates, so the module trains one run and decodes everything in
few processes, started side by side:

* the trainer (then the decoder runs below that need its checkpoint);
* two real decoder processes with bad input (no training needed);
* one helper process that imports TensorFlow while the trainer runs, then goes
  through many decoder command lines in turn (absl flag parsing and the binary's
  `_main`, with stdout and stderr captured; see `_runner_main`), plus a few direct
  calls of `text_modes` with an untrained `ar_text` model;
* one real decoder process with a happy-path command line.
"""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import traceback

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TRAINER = 't2t_delta.train.cli'
DECODER = 't2t_delta.decode.cli'

MAX_LENGTH = 12
TRAIN = ['--problem=text_synthetic', '--model=delta_vae_text',
         '--gin_file=gin/text_tiny.gin', '--train_steps=3',
         '--gin_param=train.batch_size=8', '--gin_param=train.final_splits=()',
         '--gin_param=train.log_every=1',
         f'--gin_param=text_synthetic.max_length={MAX_LENGTH}',
         '--gin_param=text_synthetic.num_train=64',
         '--gin_param=text_synthetic.num_eval=8', '--gin_param=text_synthetic.num_test=8',
         '--gin_param=delta_vae_text.num_layers=1',
         '--gin_param=delta_vae_text.hidden_size=16',
         '--gin_param=delta_vae_text.filter_size=32',
         '--gin_param=delta_vae_text.num_heads=2',
         '--gin_param=delta_vae_text.aux_hidden=8']
LATENT_DIM = 2   # gin/text_tiny.gin

PRIMES = ['the chef cooks', 'a player kicks the ball', 'yesterday the singer']
SENTENCES = ['the chef cooks the soup.', 'yesterday a player kicked the ball!']
TOO_LONG_PRIME = 'the young chef cooks a delicious soup'   # 7 tokens


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')


def _start(args):
  return subprocess.Popen([sys.executable] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)


def _finish(proc, timeout=600):
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f'timed out\n{out}\n{err[-3000:]}') from None
  return {'status': proc.returncode, 'stdout': out, 'stderr': err}


def _write(path, lines):
  with open(path, 'w') as f:
    f.write(''.join(line + '\n' for line in lines))
  return str(path)


# ---- the helper process ---------------------------------------------------------------
def _runner_main(rows_path, results_path):
  """Wait for `rows_path`, run its rows, write `results_path` (see the module docstring).

  A row is {'id', 'args'} (a decoder command line) or {'id', 'ar_text': options} (call
  `text_modes.run` with an untrained tiny ar_text model).
  """
  from t2t_delta import quiet  # pylint: disable=g-import-not-at-top
  quiet.import_tensorflow_quietly()
  from absl import flags  # pylint: disable=g-import-not-at-top
  from t2t_delta.decode import cli  # pylint: disable=g-import-not-at-top
  from t2t_delta.decode import text_modes  # pylint: disable=g-import-not-at-top
  from t2t_delta.errors import UserError  # pylint: disable=g-import-not-at-top
  deadline = time.time() + 600
  while not os.path.exists(rows_path):
    if time.time() > deadline:
      raise SystemExit('no rows')
    time.sleep(0.2)
  with open(rows_path) as f:
    rows = json.load(f)
  ar_text = []

  def ar_text_run(options):
    if not ar_text:
      from t2t_delta import registry  # pylint: disable=g-import-not-at-top
      problem = registry.problem('text_synthetic')(max_length=MAX_LENGTH, num_train=8,
                                                    num_eval=8, num_test=8)
      ar_text.append((problem, registry.model('ar_text')(
          problem, num_layers=1, hidden_size=16, filter_size=32, num_heads=2)))
    problem, model = ar_text[0]
    full = dict(mode='sample', prior='model', num_samples=4, num_steps=3, dim=0,
                from_file=None, to_file=None, temperature=1.0, max_length=None,
                occlude=None, split='test', batch_size=3, seed=0)
    full.update(options)
    try:
      text_modes.check_options(full, None, None)
      text_modes.run(full, problem, model)
    except UserError as e:
      print(f'error: {e}', file=sys.stderr)
      return 2
    return 0

  results = {}
  for row in rows:
    out, err = io.StringIO(), io.StringIO()
    status = 0
    started = time.process_time()
    flags.FLAGS.unparse_flags()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        if 'ar_text' in row:
          status = ar_text_run(row['ar_text'])
        else:
          argv = flags.FLAGS([DECODER] + row['args'])
          status = cli._main(argv) or 0  # pylint: disable=protected-access
      except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
      except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        status = 1
    results[row['id']] = {'status': status, 'stdout': out.getvalue(),
                          'stderr': err.getvalue(),
                          'cpu_seconds': time.process_time() - started}
  with open(results_path + '.tmp', 'w') as f:
    json.dump(results, f)
  os.replace(results_path + '.tmp', results_path)


def _rows(run, files, base):
  d = [f'--output_dir={run}']
  sample = d + ['--mode=sample', '--num_samples=6', '--batch_size=4']
  rows = {
      'sample_seed1': sample + ['--seed=1'],
      'sample_to_file': sample + ['--seed=1', f'--to_file={base}/samples.txt'],
      'sample_seed2': sample + ['--seed=2'],
      'sample_aux': d + ['--mode=sample', '--prior=aux', '--num_samples=5',
                         '--batch_size=2', '--temperature=0.7'],
      'interpolate_dim0': d + ['--mode=interpolate', '--dim=0', '--num_steps=5'],
      'interpolate_dim1_aux': d + ['--mode=interpolate', '--dim=1', '--num_steps=4',
                                   '--prior=aux', '--batch_size=3'],
      'complete': d + ['--mode=complete', f'--from_file={files["primes"]}',
                       '--num_steps=3', '--batch_size=4', '--max_length=10'],
      'reconstruct': d + ['--mode=reconstruct', f'--from_file={files["sentences"]}',
                          '--num_samples=3'],
      # Bad input.
      'empty_primes': d + ['--mode=complete', f'--from_file={files["empty"]}'],
      'missing_primes': d + ['--mode=complete', f'--from_file={base}/absent.txt'],
      'long_prime': d + ['--mode=complete', f'--from_file={files["long"]}',
                         '--max_length=7'],
      'dim_out_of_range': d + ['--mode=interpolate', f'--dim={LATENT_DIM}'],
      'max_length_too_big': d + ['--mode=sample', f'--max_length={MAX_LENGTH + 1}'],
      'reconstruct_without_file': d + ['--mode=reconstruct'],
  }
  rows = [{'id': k, 'args': v} for k, v in rows.items()]
  return rows + [{'id': 'ar_text_sample', 'ar_text': {}},
                 {'id': 'ar_text_aux', 'ar_text': {'prior': 'aux'}},
                 {'id': 'ar_text_interpolate', 'ar_text': {'mode': 'interpolate'}}]


def _input_files(base):
  return {
      'primes': _write(base / 'primes.txt', [PRIMES[0], '', PRIMES[1], PRIMES[2]]),
      'sentences': _write(base / 'sentences.txt', SENTENCES),
      'empty': _write(base / 'empty.txt', ['', '  ']),
      'long': _write(base / 'long.txt', ['the chef', TOO_LONG_PRIME]),
  }


# ---- the module's runs ----------------------------------------------------------------
@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  base = tmp_path_factory.mktemp('text_decoder')
  run = str(base / 'run')
  files = _input_files(base)
  # A text run as the binary sees it before loading anything (run.json only).
  text_run = base / 'text_run'
  text_run.mkdir()
  with open(text_run / 'run.json', 'w') as f:
    json.dump({'problem': 'text_synthetic', 'model': 'delta_vae_text', 'seed': 0}, f)

  rows_path, results_path = str(base / 'rows.json'), str(base / 'results.json')
  runner = _start(['-c', f'import sys; sys.path.insert(0, {HERE!r}); '
                   'import test_text_decoder_cli as t; '
                   f't._runner_main({rows_path!r}, {results_path!r})'])
  procs = {
      'train': _start(['-m', TRAINER, f'--output_dir={run}'] + TRAIN),
      'missing_run': _start(['-m', DECODER, f'--output_dir={base}/nope',
                             '--mode=sample']),
      'image_mode': _start(['-m', DECODER, f'--output_dir={text_run}',
                            '--mode=daydream']),
  }
  results = {'train': _finish(procs.pop('train'))}
  assert results['train']['status'] == 0, results['train']['stderr'][-3000:]

  rows = _rows(run, files, str(base))
  with open(rows_path + '.tmp', 'w') as f:
    json.dump(rows, f)
  os.replace(rows_path + '.tmp', rows_path)
  for name, proc in procs.items():
    results[name] = _finish(proc)
  runner_result = _finish(runner)
  assert runner_result['status'] == 0, runner_result['stderr'][-3000:]
  with open(results_path) as f:
    results.update(json.load(f))
  with open(os.path.join(base, 'samples.txt')) as f:
    results['sample_to_file']['file'] = f.read()
  return results


def _modes():
  from t2t_delta.decode import text_modes  # pylint: disable=g-import-not-at-top
  return text_modes


def _ok(result):
  assert result['status'] == 0, result['stderr'][-3000:]
  assert 'Traceback' not in result['stderr']
  return result['stdout'].split('\n')[:-1] if result['stdout'] else []


def _vocabulary():
  from t2t_delta.problems import text_synthetic  # pylint: disable=g-import-not-at-top
  return set(text_synthetic.VOCABULARY)


def _words(line):
  return re.sub(r'([.!])', r' \1', line).split()


def _assert_vocabulary_words(lines):
  vocabulary = _vocabulary()
  for line in lines:
    unknown = [w for w in _words(line) if w not in vocabulary]
    assert not unknown, (line, unknown)


def _one_line_error(result, *expected):
  assert result['status'] == 2, result
  assert 'Traceback' not in result['stderr']
  lines = result['stderr'].strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result['stderr']
  for text in expected:
    assert text in lines[0], lines[0]
  return lines[0]


# ---- sample ---------------------------------------------------------------------------
def test_sample_lines_are_sentences_of_the_vocabulary(runs):
  for row, count in (('sample_seed1', 6), ('sample_seed2', 6), ('sample_aux', 5),
                     ('ar_text_sample', 4)):
    lines = _ok(runs[row])
    assert len(lines) == count, (row, lines)
    _assert_vocabulary_words(lines)
    assert sum(len(_words(line)) for line in lines) > 0, row
    for line in lines:   # at most --max_length tokens, EOS included
      assert len(_words(line)) <= MAX_LENGTH, line


def test_sample_same_seed_is_identical_and_another_seed_differs(runs):
  seed1 = _ok(runs['sample_seed1'])
  to_file = runs['sample_to_file']
  assert to_file['status'] == 0, to_file['stderr'][-3000:]
  assert to_file['stdout'] == ''   # the samples went to the file only
  assert 'Wrote 6 lines to' in to_file['stderr']
  assert to_file['file'].split('\n')[:-1] == seed1   # the run loaded again, same flags
  assert _ok(runs['sample_seed2']) != seed1


# ---- interpolate ----------------------------------------------------------------------
def test_interpolate_one_line_per_step(runs):
  for row, steps in (('interpolate_dim0', 5), ('interpolate_dim1_aux', 4)):
    lines = _ok(runs[row])
    assert len(lines) == steps, (row, lines)
    _assert_vocabulary_words(lines)


def test_interpolate_dim_out_of_range(runs):
  _one_line_error(runs['dim_out_of_range'], f'--dim={LATENT_DIM}',
                  f'0..{LATENT_DIM - 1}')


# ---- complete -------------------------------------------------------------------------
def test_complete_lines_start_with_their_prime(runs):
  lines = _ok(runs['complete'])
  assert len(lines) == len(PRIMES) * 3   # the blank line is skipped
  _assert_vocabulary_words(lines)
  for k, line in enumerate(lines):
    prime = PRIMES[k // 3]
    assert line.startswith(prime), (prime, line)
    assert len(_words(line)) <= 10   # --max_length=10


def test_complete_bad_primes_files(runs):
  _one_line_error(runs['empty_primes'], 'empty.txt is empty')
  _one_line_error(runs['missing_primes'], 'absent.txt does not exist')
  line = _one_line_error(runs['long_prime'], 'line 2 of', 'has 7 tokens', 'at most 6')
  assert 'long.txt' in line


# ---- reconstruct ----------------------------------------------------------------------
def test_reconstruct_input_tab_reconstruction(runs):
  lines = _ok(runs['reconstruct'])
  assert len(lines) == len(SENTENCES) * 3
  for k, line in enumerate(lines):
    source, reconstruction = line.split('\t')
    assert source == SENTENCES[k // 3]
    _assert_vocabulary_words([reconstruction])
  _one_line_error(runs['reconstruct_without_file'], '--mode=reconstruct needs '
                  '--from_file')


# ---- other errors ---------------------------------------------------------------------
def test_bad_runs_and_modes_through_the_binary(runs):
  _one_line_error(runs['missing_run'], '--output_dir=', 'does not exist')
  line = _one_line_error(runs['image_mode'], '--mode=daydream is an image mode')
  for mode in ('sample', 'interpolate', 'complete', 'reconstruct'):
    assert mode in line


def test_max_length_above_the_problem(runs):
  _one_line_error(runs['max_length_too_big'], f'--max_length={MAX_LENGTH + 1}',
                  f'1..{MAX_LENGTH}')


def test_models_without_latents_or_aux_prior(runs):
  _one_line_error(runs['ar_text_aux'], '--prior=aux', "'ar_text'")
  _one_line_error(runs['ar_text_interpolate'], 'needs a latent-variable model')


# ---- pieces of the modes (no run needed) ----------------------------------------------
def test_interpolation_sweeps_one_dimension_at_every_position():
  import numpy as np  # pylint: disable=g-import-not-at-top
  z = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
  sweep = _modes().interpolation_latents(z, np.zeros([6, 3]), np.ones([6, 3]), 1, 5)
  assert sweep.shape == (5, 6, 3)
  np.testing.assert_allclose(sweep[:, :, 1], np.linspace(-3, 3, 5)[:, None] *
                             np.ones([1, 6]), atol=1e-6)
  for k in range(5):   # the other dimensions are held fixed
    np.testing.assert_array_equal(sweep[k][:, [0, 2]], z[:, [0, 2]])
  single = _modes().interpolation_latents(z, np.full([6, 3], 0.5), np.ones([6, 3]), 2, 1)
  np.testing.assert_allclose(single[0, :, 2], 0.5)   # one step: the prior mean


def test_batches_have_one_size():
  rows_in_batches = _modes()._rows_in_batches  # pylint: disable=protected-access
  batches = list(rows_in_batches(7, 3))
  assert [count for _, _, count in batches] == [3, 3, 1]
  assert all(len(rows) == 3 for _, rows, _ in batches)
  assert [list(rows[:count]) for _, rows, count in batches] == [[0, 1, 2], [3, 4, 5], [6]]
  assert [len(rows) for _, rows, _ in rows_in_batches(2, 16)] == [2]


def test_checks_without_a_model(tmp_path):
  from t2t_delta.errors import UserError  # pylint: disable=g-import-not-at-top
  options = dict(mode='sample', prior='model', num_samples=1, num_steps=2, dim=0,
                 from_file=None, to_file=None, temperature=1.0, max_length=None,
                 occlude=None, split='test', batch_size=4, seed=0)
  _modes().check_options(options, None, None)
  for change, message in (
      ({'mode': 'multi_decode'}, 'text runs support --mode=sample|interpolate|'),
      ({'to_file': str(tmp_path / 'grid.png')}, 'pass a .txt name'),
      ({'to_file': str(tmp_path / 'no' / 'x.txt')}, 'does not exist'),
      ({'from_file': str(tmp_path)}, 'read by --mode=complete and reconstruct only'),
      ({'mode': 'interpolate', 'dim': -1}, '--dim=-1 must be >= 0'),
      ({'occlude': 'bottom_half'}, 'image reconstruct only')):
    with pytest.raises(UserError, match=re.escape(message)):
      _modes().check_options(dict(options, **change), None, None)
