"""Start-up validation: every bad input gives one 'error: ' line, exit 2, nothing written.

All rows run in one helper process (tests/in_process_runner.py: the CLI's own flag
parsing and `_main`, in-process) to pay TensorFlow's start-up once; a few rows also run
through the real binary in a subprocess and must give the same result. Each row's
--output_dir is either absent (and must stay absent) or holds a run of the same
problem and model (and must be left byte-for-byte, mtime-for-mtime untouched).
docs/errors.md lists the messages.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

import reliability_helpers as h

# id: (args, [expected substrings], output_dir is an existing run of the same problem)
IMAGES = ['--problem=image_files', '--model=vae_conv']
TEXT = ['--problem=text_lines', '--model=vae_bow']
DELTA = ['--problem=image_synthetic', '--model=delta_vae_image',
         '--gin_file=gin/image_tiny.gin']
FAULTY = ['--problem=tiny_images', '--model=tiny_faulty']
ROWS = {
    'missing_output_dir': (['--problem=tiny_images', '--model=vae_conv', '--NO_OUT'],
                           ['missing --output_dir'], False),
    'unknown_problem': (['--problem=tiny_imagez', '--model=vae_conv'],
                        ["unknown problem 'tiny_imagez'", 'tiny_images'], False),
    'unknown_model': (['--problem=tiny_images', '--model=vae_cnv'],
                      ["unknown model 'vae_cnv'", 'vae_conv'], False),
    'unknown_flag': (h.TINY + ['--train_stepz=3'], ['unknown flag --train_stepz',
                                                    'did you mean --train_steps?'], False),
    'bad_flag_value': (h.TINY + ['--train_steps=ten'],
                       ['flag --train_steps=ten: expected an integer'], False),
    'bad_enum_flag': (h.TINY + ['--schedule=fit'], ['--schedule', 'train_and_evaluate'],
                      False),
    'gin_unknown_configurable': (
        h.TINY + ['--gin_param=trian.steps=3'],
        ["unknown gin configurable 'trian' in --gin_param 'trian.steps=3'",
         "did you mean 'train'"], True),
    'gin_unknown_reference': (
        h.TINY + ['--gin_param=train.objective=@elbow'],
        ["unknown gin configurable '@elbow'", "did you mean 'elbo'"], True),
    'gin_unknown_parameter': (
        h.TINY + ['--gin_param=vae_conv.hiden=8'],
        ["gin configurable 'vae_conv' has no parameter 'hiden'", "did you mean 'hidden'",
         'latent_dim'], True),
    'gin_unquoted_string': (
        h.TINY + ['--gin_param=train.nonfinite=skip'],
        ["cannot parse --gin_param 'train.nonfinite=skip'", "'skip' is not a value"], True),
    'gin_malformed_binding': (
        h.TINY + ['--gin_param=train.steps 5'],
        ["cannot parse --gin_param 'train.steps 5'", "train.steps = 500"], True),
    'gin_undefined_macro': (
        h.TINY + ['--gin_param=train.steps=%STEPS'],
        ["gin macro '%STEPS' is used but never defined"], True),
    'gin_missing_file': (h.TINY + ['--gin_file=no_such_config.gin'],
                         ["gin file 'no_such_config.gin' not found"], True),
    'gin_malformed_file': (h.TINY + ['--gin_file={data}/unclosed.gin'],
                           ['cannot parse gin file', 'unclosed.gin, line 2'], True),
    'gin_file_unknown_configurable': (
        h.TINY + ['--gin_file={data}/unknown.gin'],
        ["unknown gin configurable 'vae_cnov' in gin file", "unknown.gin, line 2",
         "did you mean 'vae_conv'"], True),
    'train_bad_value': (h.TINY + ['--gin_param=train.batch_size=0'],
                        ['train.batch_size=0 is invalid', 'positive integer'], True),
    'train_bad_choice': (h.TINY + ["--gin_param=train.nonfinite='never'"],
                         ["train.nonfinite='never' is invalid", "'stop' or 'skip'"], True),
    'train_bad_split': (h.TINY + ["--gin_param=train.final_splits=('valid',)"],
                        ["unknown split 'valid'"], True),
    'model_bad_hparam': (h.TINY + ['--gin_param=tiny_images.size=6'],
                         ['cannot build model vae_conv for problem tiny_images',
                          'divisible by 4', 'vae_conv.* gin bindings'], True),
    'images_no_data_dir': (IMAGES, ['image_files: no data directory given',
                                    '--data_dir'], False),
    'images_missing_dir': (IMAGES + ['--data_dir={data}/nowhere'],
                           ['nowhere does not exist'], True),
    'images_empty_dir': (IMAGES + ['--data_dir={data}/empty'], ['empty is empty'], True),
    'images_corrupt_file': (IMAGES + ['--data_dir={data}/corrupt'],
                            ['cannot decode image', 'broken.png', 'replace or delete it'],
                            True),
    'images_wrong_shape': (IMAGES + ['--data_dir={data}/flat'],
                           ['train.npz', 'expected 4-D', 'image[..., None]'], True),
    'images_mixed_sizes': (IMAGES + ['--data_dir={data}/mixed'],
                           ['images differ in size', 'resize them'], True),
    'text_missing_dir': (TEXT + ['--data_dir={data}/nowhere'],
                         ['text_lines: data directory', 'does not exist'], True),
    'text_empty_file': (TEXT + ['--data_dir={data}/text_empty'],
                        ['train.txt has no non-blank lines'], True),
    'output_dir_other_run': (h.TINY, ['holds a run of --problem=tiny_text --model=vae_bow',
                                      'not --problem=tiny_images --model=vae_conv'], 'other'),
    'output_dir_is_file': (h.TINY, ['is a file, not a directory'], 'file'),
    'output_dir_not_a_run': (h.TINY, ['holds checkpoints but no run.json'], 'ckpt_only'),
    'output_dir_bad_run_json': (h.TINY, ['run.json cannot be read', 'choose another'],
                                'bad_json'),
    'evaluate_without_checkpoint': (h.TINY + ['--schedule=evaluate'],
                                    ['no checkpoint in', 'train first'], True),
    # Settings that used to fail only inside the compiled step (a traceback, and
    # run.json and summaries/ left behind).
    'delta_no_components': (DELTA + ['--gin_param=delta_vae_image.num_components=0'],
                            ['delta_vae_image.num_components=0 is invalid',
                             'integer >= 1'], True),
    'delta_dropout_above_one': (DELTA + ['--gin_param=delta_vae_image.dropout_rate=1.5'],
                                ['delta_vae_image.dropout_rate=1.5 is invalid',
                                 'number in [0, 1)'], True),
    'model_error_while_tracing': (
        FAULTY, ['cannot run model tiny_faulty on problem tiny_images',
                 "tiny_faulty.fail='trace': this model refuses to be traced"], True),
    'model_error_in_first_step': (
        FAULTY + ["--gin_param=tiny_faulty.fail='run'"],
        ['the first training step of tiny_faulty on tiny_images failed',
         "tiny_faulty.fail='run': no image is negative"], False),
    'batch_beyond_memory': (DELTA + ['--gin_param=train.batch_size=1000000000'],
                            ['train.batch_size=1000000000 will not fit in memory',
                             'lower train.batch_size to at most', '--nocheck_memory'],
                            True),
    'batch_beyond_int32_shapes': (DELTA + ['--gin_param=train.batch_size=1000000000',
                                           '--nocheck_memory'],
                                  ['train.batch_size=1000000000 is too large',
                                   'int32 limit', 'use train.batch_size <='], True),
    'images_beyond_memory': (IMAGES + ['--data_dir={data}/huge'],
                             ['train.batch_size=32 will not fit in memory',
                              'vae_conv on 2048x2048x3 images needs an estimated',
                              'per example', '--nocheck_memory'], True),
    'latent_dim_zero': (h.TINY[:-3] + ['--gin_param=vae_conv.latent_dim=0'],
                        ['vae_conv.latent_dim=0 is invalid', 'at least one latent'], True),
    'learning_rate_negative': (
        h.TINY + ['--gin_param=train.learning_rate=@constant_learning_rate',
                  '--gin_param=constant_learning_rate.value=-0.001'],
        ['the learning rate is -0.001 at step 1', 'finite and > 0'], True),
    'learning_rate_zero': (
        h.TINY + ['--gin_param=train.learning_rate=@constant_learning_rate',
                  '--gin_param=constant_learning_rate.value=0.0'],
        ['the learning rate is 0 at step 1'], True),
    'learning_rate_ends_before_training': (
        h.TINY + ['--gin_param=train.learning_rate=@linear_warmup_cosine_decay',
                  '--gin_param=linear_warmup_cosine_decay.warmup_steps=2',
                  '--gin_param=linear_warmup_cosine_decay.decay_steps=10',
                  '--train_steps=40'],
        ['the learning rate is 0 at step 10 of train.steps=40',
         'leave linear_warmup_cosine_decay.decay_steps unbound'], True),
    'adam_beta1_above_one': (h.TINY + ['--gin_param=adam.beta1=1.5'],
                             ['adam.beta1=1.5 is invalid', '[0, 1)'], True),
    'objective_negative_beta': (h.TINY + ['--gin_param=train.objective=@beta_vae',
                                          '--gin_param=beta_vae.beta=-1.0'],
                                ['beta_vae.beta=-1.0 is invalid'], True),
    'steps_beyond_int64': (h.TINY + ['--train_steps=100000000000000000000'],
                           ['train.steps=100000000000000000000 is invalid',
                            'int64'], True),
    'seed_beyond_int32': (h.TINY + ['--seed=4294967296'],
                          ['--seed=4294967296 must fit in 32 bits'], True),
    'images_data_dir_is_a_file': (IMAGES + ['--data_dir={data}/unclosed.gin'],
                                  ['unclosed.gin is a file, not a directory'], True),
    'text_train_txt_is_a_directory': (TEXT + ['--data_dir={data}/text_dir'],
                                      ['train.txt is a directory, not a file'], True),
}
# Rows also run through the real binary (subprocess) to check the in-process runner.
SUBPROCESS_ROWS = ('gin_unknown_configurable', 'images_corrupt_file', 'bad_enum_flag')


def _png(path, size, value=100):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.full(size + (3,), value, np.uint8)).save(path)


def _make_data(data):
  os.makedirs(f'{data}/flat')
  for split in ('train', 'test'):
    _png(f'{data}/corrupt/{split}/a.png', (8, 8))
    _png(f'{data}/mixed/{split}/a.png', (8, 8))
    _png(f'{data}/mixed/{split}/b.png', (12, 8) if split == 'train' else (8, 8))
    np.savez(f'{data}/flat/{split}.npz', image=np.zeros((4, 8, 8), np.uint8))
  with open(f'{data}/corrupt/train/broken.png', 'wb') as f:
    f.write(b'\x89PNG\r\n\x1a\n' + b'\x00garbage' * 8)
  os.makedirs(f'{data}/empty')
  os.makedirs(f'{data}/text_empty')
  with open(f'{data}/text_empty/train.txt', 'w') as f:
    f.write('\n  \n')
  with open(f'{data}/text_empty/test.txt', 'w') as f:
    f.write('a sentence\n')
  with open(f'{data}/unclosed.gin', 'w') as f:
    f.write('train.steps = 3\ntrain.final_splits = ("eval",\n')
  with open(f'{data}/unknown.gin', 'w') as f:
    f.write('train.steps = 3\nvae_cnov.hidden = 8\n')
  os.makedirs(f'{data}/huge')   # four 2048x2048 images: a step would need > 100 GB
  for split in ('train', 'test'):
    np.savez_compressed(f'{data}/huge/{split}.npz',
                        image=np.zeros((4, 2048, 2048, 3), np.uint8))
  os.makedirs(f'{data}/text_dir/train.txt')
  with open(f'{data}/text_dir/test.txt', 'w') as f:
    f.write('a sentence\n')


def _problem_and_model(args):
  get = lambda name: next(a.split('=', 1)[1] for a in args if a.startswith(f'--{name}='))
  return get('problem'), get('model')


def _existing_run(path, problem, model):
  """A run directory with the files a real run has (contents do not matter here)."""
  os.makedirs(os.path.join(path, 'checkpoints'))
  with open(os.path.join(path, 'run.json'), 'w') as f:
    json.dump({'problem': problem, 'model': model, 'seed': 0}, f)
  with open(os.path.join(path, 'metrics.jsonl'), 'w') as f:
    f.write('{"split": "test", "step": 1}\n')
  with open(os.path.join(path, 'checkpoints', 'checkpoint'), 'w') as f:
    f.write('model_checkpoint_path: "ckpt-1"\n')


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  base = tmp_path_factory.mktemp('validation')
  data = str(base / 'data')
  _make_data(data)
  rows, outs = [], {}
  for row_id, (args, _, existing) in ROWS.items():
    out = str(base / row_id / 'run')
    outs[row_id] = out
    os.makedirs(os.path.dirname(out))
    if existing is True:
      _existing_run(out, *_problem_and_model(args))
    elif existing == 'other':
      _existing_run(out, 'tiny_text', 'vae_bow')
    elif existing == 'ckpt_only':
      os.makedirs(os.path.join(out, 'checkpoints'))
    elif existing == 'bad_json':
      os.makedirs(out)
      with open(os.path.join(out, 'run.json'), 'w') as f:
        f.write('{"problem": "tiny_im')
    elif existing == 'file':
      with open(out, 'w') as f:
        f.write('not a directory\n')
    args = [a.format(data=data) for a in args if a != '--NO_OUT']
    if '--NO_OUT' not in ROWS[row_id][0]:
      args.append(f'--output_dir={out}')
    rows.append({'id': row_id, 'args': args})
  before = {row_id: h.snapshot(out) for row_id, out in outs.items()}
  data_before = h.snapshot(data)
  procs = {r['id']: h.start(h.TRAINER, r['args']) for r in rows
           if r['id'] in SUBPROCESS_ROWS}
  in_process = h.run_in_process(h.TRAINER, rows, str(base))
  subprocess_results = {}
  for row_id, proc in procs.items():
    status, out, err = h.finish(proc)
    subprocess_results[row_id] = {'status': status, 'stdout': out, 'stderr': err}
  after = {row_id: h.snapshot(out) for row_id, out in outs.items()}
  return {'in_process': in_process, 'subprocess': subprocess_results,
          'before': before, 'after': after, 'data_unchanged': data_before == h.snapshot(
              data)}


@pytest.mark.parametrize('row_id', list(ROWS))
def test_bad_input_is_one_line_error_and_writes_nothing(results, row_id):
  result = results['in_process'][row_id]
  stderr = result['stderr']
  assert result['status'] == 2, result
  assert 'Traceback' not in stderr
  lines = stderr.splitlines()
  assert len(lines) == 1, stderr
  assert lines[0].startswith('error: '), stderr
  for expected in ROWS[row_id][1]:
    assert expected in lines[0], lines[0]
  assert results['before'][row_id] == results['after'][row_id], (
      f'{row_id}: --output_dir changed')


@pytest.mark.parametrize('row_id', SUBPROCESS_ROWS)
def test_binary_gives_the_same_error_as_the_in_process_runner(results, row_id):
  real = results['subprocess'][row_id]
  assert real['status'] == 2
  assert real['stderr'] == results['in_process'][row_id]['stderr']
  assert real['stdout'] == ''


def test_data_directories_are_not_modified(results):
  assert results['data_unchanged']
