"""t2t-delta-eval and t2t-delta-decoder leave a run directory as they found it.

A tiny delta_vae_image run is trained in this process; then a live trainer is
imitated: the run's lock is held, a checkpoint save is in flight (the files
TensorFlow's sharded save writes under `checkpoints/ckpt-N_temp/` before it merges
them into `ckpt-N.*`) and an atomic write is in progress (`.tmp-*`). Both tools run on
it, and afterwards every file and directory is as it was, except metrics.jsonl, which
only grew by the evaluator's records.
"""

import hashlib
import json
import os

import gin
import pytest

from t2t_delta.runtime import checkpoints, run_dir, run_lock, run_setup
from t2t_delta.train import strategies
from t2t_delta.train import trainer as trainer_lib

EVAL = 't2t_delta.evaluate.cli'
DECODER = 't2t_delta.decode.cli'
STEPS = 2
BINDINGS = ['train.batch_size=8', "train.final_splits=('test',)", 'train.log_every=0',
            'summaries.enabled=False', 'tiny_images.num_train=64',
            'tiny_images.num_test=16', 'delta_vae_image.num_encoder_layers=1',
            'delta_vae_image.num_decoder_layers=2', 'delta_vae_image.encoder_hidden=16',
            'delta_vae_image.decoder_hidden=16', 'delta_vae_image.encoder_filter=32',
            'delta_vae_image.decoder_filter=32', 'delta_vae_image.aux_hidden=16',
            'delta_vae_image.num_components=3']
# What TensorFlow's sharded save of checkpoint N writes before the merge (observed
# with tf.train.CheckpointManager.save: the data shard is first a `.tempstate` file).
IN_FLIGHT = ('part-00000-of-00001.data-00000-of-00001.tempstate6417738254719553208',
             'part-00000-of-00001.index')


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory):
  """A run trained through RunSetup and Trainer, as t2t-delta-trainer does."""
  out = str(tmp_path_factory.mktemp('run'))
  try:
    setup = run_setup.RunSetup.for_training(
        'tiny_images', 'delta_vae_image', out, gin_files=['gin/image_tiny.gin'],
        gin_params=BINDINGS, overrides=[(f'train.steps = {STEPS}', 'test')])
    trainer = trainer_lib.Trainer.for_run(setup, strategies.make_strategy('cpu'))
    trainer.train()
  finally:
    gin.clear_config()
  return out


def _snapshot(directory):
  """({relative file path: sha256}, {relative directory path}) under `directory`."""
  files, directories = {}, set()
  for root, dirs, names in os.walk(directory):
    directories.update(os.path.relpath(os.path.join(root, d), directory) for d in dirs)
    for name in names:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        files[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return files, directories


def _imitate_a_live_trainer(out):
  """Plant the in-flight files of a trainer saving checkpoint STEPS + 1."""
  in_flight = os.path.join(run_dir.checkpoint_dir(out), f'ckpt-{STEPS + 1}_temp')
  os.makedirs(in_flight)
  for name in IN_FLIGHT:
    with open(os.path.join(in_flight, name), 'wb') as f:
      f.write(b'partial checkpoint')
  with open(os.path.join(out, '.tmp-config-in-progress'), 'w') as f:
    f.write('train.steps = ')


def test_the_run_has_what_the_tools_read(trained_run):
  out = trained_run
  info = run_dir.read_run_info(out)
  assert info['problem'] == 'tiny_images' and info['model'] == 'delta_vae_image'
  assert info['gin_files'] == ['gin/image_tiny.gin'] and info['gin_params'] == BINDINGS
  assert os.path.exists(run_dir.config_path(out))
  assert checkpoints.checkpoint_step(checkpoints.require_latest(out)) == STEPS
  with open(run_dir.metrics_path(out)) as f:
    assert [json.loads(line)['split'] for line in f] == ['test']


def test_eval_and_decoder_beside_a_live_trainer_change_nothing(trained_run, cli,
                                                                 tmp_path):
  out = trained_run
  _imitate_a_live_trainer(out)
  lock = run_lock.RunLock(out).acquire()
  try:
    files_before, dirs_before = _snapshot(out)
    with open(run_dir.metrics_path(out), 'rb') as f:
      metrics_before = f.read()
    evaluated = cli(EVAL, [f'--output_dir={out}', '--splits=eval,test', '--nll_samples=2',
                           '--nll_chunk=2', '--max_examples=16', '--info_negatives=3',
                           '--info_examples=16', '--probe_examples=32'], check=0)
    png = str(tmp_path / 'samples.png')
    decoded = cli(DECODER, [f'--output_dir={out}', '--mode=sample', '--num_samples=2',
                            '--batch_size=2', f'--to_file={png}'], check=0)
    files_after, dirs_after = _snapshot(out)
  finally:
    lock.release()
  assert f'at step {STEPS}' in evaluated.stdout
  assert f'ckpt-{STEPS}' in decoded.stderr and os.path.getsize(png) > 0
  # Nothing created, deleted or rewritten, the in-flight checkpoint and the lock
  # included; metrics.jsonl only grew.
  assert dirs_after == dirs_before
  assert set(files_after) == set(files_before)
  changed = sorted(p for p in files_before if files_before[p] != files_after[p])
  assert changed == [run_dir.METRICS_FILE]
  with open(run_dir.metrics_path(out), 'rb') as f:
    metrics_after = f.read()
  assert metrics_after.startswith(metrics_before)
  text = metrics_after[len(metrics_before):].decode()
  assert text.endswith('\n')
  appended = [json.loads(line) for line in text.splitlines()]
  assert [(r['split'], r['step'], r['evaluator']) for r in appended] == [
      ('eval', STEPS, 't2t-delta-eval'), ('test', STEPS, 't2t-delta-eval')]
