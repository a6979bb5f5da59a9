"""What the command-line tools share: `--help`, flag errors and the `error:` line.

Every tool (trainer, decoder, evaluator, report) describes itself with a `Tool`:

    TOOL = cli_common.Tool('t2t-delta-decoder', __doc__, anchor_flag='output_dir')
    parse_flags = TOOL.parse_flags       # absl flags -> argv, or one error line
    def main():
      TOOL.run(_main)                   # the console script

* `--help` (also `-h`, `-?`, `--helpshort`) prints the tool's docstring and its own
  flags with their help text, then exits 0; absl's own flags (logging, debugging) are
  listed by `--helpfull` only.
* A bad command line is one line on stderr, `error: <what>; <what to do>.`, exit 2:
  an unknown flag names the closest of the tool's flags (or lists them all), a bad
  value says what was expected, a stray positional argument is refused.
* Flags are parsed before TensorFlow is imported, so help and flag errors are instant.

No library code reads absl flags: the tools pass values on explicitly.
"""

import difflib
import re
import sys
import textwrap

from absl import app
from absl import flags
from absl import logging

from t2t_delta import errors
from t2t_delta.errors import UserError

HELP_ARGS = ('-h', '-?', '--help', '-help', '--helpshort', '-helpshort')
_WIDTH = 88


def one_line(message):
  """`message` with all whitespace (newlines included) collapsed to single spaces."""
  return ' '.join(str(message).split())


def fail(message, status=2):
  """Print `error: <message>` as one line on stderr and exit with `status`."""
  print(f'error: {one_line(message)}', file=sys.stderr, flush=True)
  sys.exit(status)


def first_line(error):
  """The first non-blank line of an exception's message (or its type name), with its
  final period: the whole `error:` line of a UserError."""
  lines = errors.message_lines(error)
  return lines[0] if lines else type(error).__name__


def write_failure_message(error, advice):
  """'cannot write FILE (no space left on device); <advice>' for a disk or permission
  failure to write, else None."""
  reason = errors.write_failure(error)
  if reason is None:
    return None
  where = getattr(error, 'filename', None)
  return f'cannot write{f" {where}" if where else ""} ({reason}); {advice}'


def _value_hint(flag):
  kind = flag.flag_type()
  if hasattr(flag.parser, 'enum_values'):
    return '|'.join(flag.parser.enum_values)
  return {'int': 'INT', 'float': 'FLOAT', 'string': 'TEXT', 'multi string': 'TEXT',
          'comma separated list of strings': 'A,B,...'}.get(kind, kind.upper())


def _help_of(flag):
  """The flag's own help, without absl's additions (enum values, 'repeat this ...')."""
  text = re.sub(r'^<[^>]*>: ', '', one_line(flag.help))
  return re.sub(r';? ?repeat this option to specify a list of values$', '', text)


class Tool:
  """One command-line tool: its name, usage text and the flags its module defines.

  Args:
    name: the console script, e.g. 't2t-delta-trainer'.
    doc: usage text printed by --help (the tool module's docstring).
    anchor_flag: one flag the tool's module defines; every flag defined by the same
      module is the tool's own (works whether the module runs as `__main__` or not).
    positional: what positional arguments mean (e.g. 'RUN_DIR...'), or None if the
      tool takes none.
    tensorflow: import TensorFlow (quietly) after parsing the flags.
    early_check: optional function run after parsing, before TensorFlow is imported
      (a quick refusal, e.g. of a run directory in use); raises UserError.
  """

  def __init__(self, name, doc, anchor_flag, positional=None, tensorflow=True,
               early_check=None):
    self.name, self.doc, self.anchor_flag = name, doc or '', anchor_flag
    self.positional, self.tensorflow = positional, tensorflow
    self.early_check = early_check

  # ---- flags ----------------------------------------------------------------------------
  def own_flags(self):
    """The tool's absl flags, in definition order."""
    module = flags.FLAGS.find_module_defining_flag(self.anchor_flag)
    return flags.FLAGS.get_flags_for_module(module)

  def own_flag_names(self):
    return [f.name for f in self.own_flags()]

  def help_text(self):
    """Usage (the docstring) and every flag of the tool with its help and default."""
    lines = [textwrap.dedent(self.doc).strip(), '', f'Flags of {self.name}:']
    for flag in self.own_flags():
      default = flag.default_as_str
      header = f'  --{flag.name}={_value_hint(flag)}'
      if flag.flag_type() == 'bool':
        header = f'  --[no]{flag.name}'
      if default not in (None, '', "''", 'None', '[]'):
        header += f'  (default: {default.strip(chr(39))})'
      lines.append(header)
      lines.extend(textwrap.wrap(_help_of(flag), _WIDTH, initial_indent=' ' * 6,
                                 subsequent_indent=' ' * 6))
    lines += ['', "absl's own flags (logging, debugging) are listed by --helpfull."]
    return '\n'.join(lines) + '\n'

  def _unknown_flag_message(self, name):
    names = self.own_flag_names()
    bare = name[2:] if name.startswith('no') and name[2:] in names else name
    close = difflib.get_close_matches(bare, names, n=1, cutoff=0.75)
    if close:
      return f'unknown flag --{name}; did you mean --{close[0]}? see --help.'
    valid = ', '.join(f'--{n}' for n in names)
    return f'unknown flag --{name}; {self.name} takes {valid}; see --help.'

  def parse_flags(self, argv):
    """Parse absl flags; --help prints the tool's help and exits 0; errors exit 2."""
    args = list(argv[1:])
    end = args.index('--') if '--' in args else len(args)
    if any(a in HELP_ARGS for a in args[:end]):
      sys.stdout.write(self.help_text())
      sys.stdout.flush()
      sys.exit(0)
    try:
      remaining = flags.FLAGS(argv)
    except flags.Error as e:
      text = one_line(e)
      unknown = re.match(r"Unknown command line flag '([^']*)'", text)
      if unknown:
        fail(self._unknown_flag_message(unknown.group(1)))
      text = re.sub(r'invalid literal for int\(\) with base 10: .*', 'expected an integer',
                    text)
      text = re.sub(r'could not convert string to float: .*', 'expected a number', text)
      fail(f'{text.rstrip(".")}; see --help.')
    if len(remaining) > 1 and self.positional is None:
      fail(f'unexpected argument {remaining[1]!r}: {self.name} takes only flags '
           '(--name=value); see --help.')
    return remaining

  # ---- running --------------------------------------------------------------------------
  def guarded(self, run, write_hint=None):
    """`run(argv)` with absl logging at WARNING; a UserError, or a failure to write
    (full disk, read-only output), is one error line, the latter ending with
    `write_hint()` (what to do; default: free space or choose another path)."""
    def main(argv):
      logging.set_verbosity(logging.WARNING)
      try:
        return run(argv)
      except UserError as e:
        fail(first_line(e))
      except Exception as e:  # pylint: disable=broad-except
        hint = (write_hint() if write_hint else
                'free disk space or choose another output path, then rerun.')
        message = write_failure_message(e, hint)
        if message is None:
          raise
        fail(message)
    return main

  def call(self, main, argv):
    """After flag parsing: the early check, TensorFlow (quietly), then `main(argv)`."""
    if self.early_check is not None:
      try:
        self.early_check()
      except UserError as e:
        fail(first_line(e))
    if self.tensorflow:
      from t2t_delta import quiet  # pylint: disable=g-import-not-at-top
      quiet.import_tensorflow_quietly()
    return main(argv)

  def run(self, main):
    """The console script: parse flags, then `call(main, argv)`."""
    app.run(lambda argv: self.call(main, argv), flags_parser=self.parse_flags)

  def console_script(self, main):
    """The entry point `setup.py` names: `run(main)` as a function of no arguments."""
    return lambda: self.run(main)
