"""Every console script: `--help` lists its own flags (those of the README's tables),
and an unknown or misspelled flag is one `error:` line naming the closest valid one.

The scripts are started the way pip's console-script wrappers start them (import the
entry point named in setup.py and call it); flags are parsed before TensorFlow is
imported, so each process takes about a second.
"""

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _entry_points():
  """{script name: 'module:function'} from setup.py's console_scripts."""
  with open(os.path.join(REPO, 'setup.py')) as f:
    text = f.read()
  return dict(re.findall(r"'(t2t-delta-[\w-]+)=([\w.]+:\w+)'", text))


SCRIPTS = _entry_points()


def _run(script, args):
  module, function = SCRIPTS[script].split(':')
  code = (f'import sys; sys.argv[0] = {script!r}; from {module} import {function}; '
          f'sys.exit({function}())')
  return subprocess.run([sys.executable, '-c', code] + list(args), capture_output=True,
                        text=True, cwd=REPO, timeout=120)


def _readme():
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    return f.read()


def _readme_flags(script):
  """The --flags in the first column of the README table headed '`script` flag'."""
  lines = _readme().splitlines()
  start = next(i for i, line in enumerate(lines)
               if re.match(rf'\|\s*`{re.escape(script)}` flag\s*\|', line))
  names = []
  for line in lines[start + 2:]:
    if not line.startswith('|'):
      break
    names += re.findall(r'`--([a-z_]+)', line.split('|')[1])
  return names


def _help_flags(text):
  return re.findall(r'^  --(?:\[no\])?([a-z_]+)', text, flags=re.MULTILINE)


def test_every_tool_has_a_console_script():
  assert set(SCRIPTS) == {'t2t-delta-trainer', 't2t-delta-decoder', 't2t-delta-eval',
                          't2t-delta-report'}


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_help_lists_exactly_the_readme_flags(script):
  proc = _run(script, ['--help'])
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr == ''
  assert f'Flags of {script}:' in proc.stdout
  listed = _help_flags(proc.stdout)
  readme = _readme_flags(script)
  assert readme and sorted(listed) == sorted(readme), (listed, readme)
  for name in readme:   # every flag comes with its help text
    assert re.search(rf'^  --(\[no\])?{name}\b.*\n      \S', proc.stdout, re.MULTILINE), name
  for absl_flag in ('--logtostderr', '--verbosity', '--only_check_args'):
    assert absl_flag not in proc.stdout
  assert '--helpfull' in proc.stdout


def test_readme_shows_the_trainer_help():
  help_text = _run('t2t-delta-trainer', ['--help']).stdout
  assert help_text.strip() in _readme()


@pytest.mark.parametrize('script,args,expected', [
    ('t2t-delta-trainer', ['--train_stepz=3'],
     'unknown flag --train_stepz; did you mean --train_steps? see --help.'),
    ('t2t-delta-decoder', ['--output_dir=RUN', '--temprature=0.5'],
     'unknown flag --temprature; did you mean --temperature? see --help.'),
    ('t2t-delta-decoder', ['--output_dir=RUN', '--data_dir=DIR'],
     'unknown flag --data_dir; t2t-delta-decoder takes --output_dir, --mode,'),
    ('t2t-delta-eval', ['--output_dir=RUN', '--nll_sample=4'],
     'unknown flag --nll_sample; did you mean --nll_samples? see --help.'),
    ('t2t-delta-report', ['RUN', '--ot=report'],
     'unknown flag --ot; did you mean --out? see --help.'),
    ('t2t-delta-report', ['RUN', '--to_file=x.png'],
     'unknown flag --to_file; t2t-delta-report takes --out, --split, --title'),
    ('t2t-delta-eval', ['--output_dir=RUN', 'extra'],
     "unexpected argument 'extra': t2t-delta-eval takes only flags"),
    ('t2t-delta-decoder', ['--output_dir=RUN', '--temperature=hot'],
     'flag --temperature=hot: expected a number; see --help.'),
])
def test_bad_command_line_is_one_error_line(script, args, expected, tmp_path):
  proc = _run(script, args)
  assert proc.returncode == 2
  assert proc.stdout == ''
  lines = proc.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  assert expected in lines[0]


@pytest.mark.parametrize('error', [
    OSError(28, 'No space left on device', '/runs/a/samples.png'),
    'tensorflow'])
def test_a_failure_to_write_is_one_error_line(capsys, error):
  """What any tool prints when its output cannot be written (full disk, quota)."""
  from t2t_delta import cli_common  # pylint: disable=g-import-not-at-top
  if error == 'tensorflow':
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    error = tf.errors.UnknownError(None, None, 'runs/a/x.npz; No space left on device')

  def run(argv):
    raise error

  tool = cli_common.Tool('t2t-delta-decoder', 'usage', anchor_flag='help')
  with pytest.raises(SystemExit) as exit_info:
    tool.guarded(run)(['t2t-delta-decoder'])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and err.startswith('error: cannot write')
  assert '(no space left on device); free disk space' in err
