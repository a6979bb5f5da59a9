"""Checks a run must pass before the trainer writes anything.

* `check_bindings`: numeric bounds of hyper-parameters by name, for every registered
  model (latent_dim >= 1, 0 <= dropout rates < 1, ...), objective (beta >= 0, ...)
  and learning-rate schedule, from their defaults and gin bindings, before anything
  is built.
* `trace_step`: the model and objective traced on a dummy batch of one example per
  replica (shapes only, nothing computed), without autograph so that an error raised
  by our own code, or by TensorFlow on a bad setting, arrives as itself; it becomes a
  one-line `UserError` instead of a traceback from inside the first compiled step.
* `memory_estimate` / `check_memory`: what a training step needs, from the traced
  graph scaled to the batch, against the memory this machine has available.
* `user_error_from_trace`: the original message of an error that autograph wrapped.
"""

import inspect
import math
import re

import gin
import numpy as np
import psutil
import tensorflow as tf

from t2t_delta import errors
from t2t_delta.errors import UserError

INT32_MAX = 2**31 - 1
# Bytes per trainable parameter while training: weights, gradients, Adam's m and v.
BYTES_PER_PARAMETER = 16
# A training step's peak memory was measured at 0.20-0.61 of the summed sizes of all
# tensors in its forward graph (vae_conv at 256x256, the cifar10_ablation and the tiny
# δ-VAE configurations on CPU): TensorFlow frees or reuses most of them. The estimate
# takes this fraction, and never less than the largest single tensor.
LIVE_FRACTION = 0.25

# Hyper-parameter name -> (predicate, what is expected). Names are matched exactly
# or by the pattern; a None value is left to the model (it means "not used").
_INT = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)
_NUM = lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
_RULES = (
    (r'latent_dim', lambda v: _INT(v) and v >= 1,
     'an integer >= 1 (a latent-variable model needs at least one latent dimension)'),
    (r'.*dropout_rate', lambda v: _NUM(v) and 0 <= v < 1, 'a number in [0, 1)'),
    (r'num_components|num_heads|num_(\w+_)?layers|(\w+_)?filter(_size)?',
     lambda v: _INT(v) and v >= 1, 'an integer >= 1'),
    (r'(\w+_)?hidden(_size)?', lambda v: (_INT(v) and v >= 1) or (
        isinstance(v, (tuple, list)) and v and all(_INT(x) and x >= 1 for x in v)),
     'an integer >= 1 (or a tuple of them)'),
    (r'num_\w*attention', lambda v: _INT(v) and v >= 0, 'an integer >= 0'),
    (r'alpha_lo|alpha_hi', lambda v: _NUM(v) and 0 <= v < 1, 'a number in [0, 1)'),
    (r'committed_rate_bits', lambda v: _NUM(v) and 0 < v < math.inf,
     'a finite number of bits > 0 (or None)'),
    (r'beta|lambda_nats|target_nats', lambda v: _NUM(v) and 0 <= v < math.inf,
     'a finite number >= 0'),
    (r'start_weight|final_fraction', lambda v: _NUM(v) and 0 <= v <= 1,
     'a number in [0, 1]'),
    (r'(\w+_)?steps', lambda v: _INT(v) and 0 <= v < 2**63, 'an integer >= 0'),
)


def gin_name(configurable):
  """The name gin knows a configurable function or class by (its __name__ if none)."""
  for _, entry in gin.config._REGISTRY.items():  # pylint: disable=protected-access
    if configurable in (entry.wrapper, entry.wrapped):
      return entry.name
  return getattr(configurable, '__name__', str(configurable))


def _effective_arguments(configurable, name):
  """{parameter: value} a gin configurable will be called with: defaults, then gin."""
  target = configurable.__init__ if inspect.isclass(configurable) else configurable
  try:
    parameters = inspect.signature(target).parameters.values()
  except (TypeError, ValueError):
    return {}
  values = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
  try:
    values.update(gin.get_bindings(name))
  except (ValueError, KeyError):
    pass
  return values


def check_bindings(configurable, name=None):
  """UserError naming `<name>.<parameter>` for a value outside its bounds.

  `configurable` is a model class, an objective or a schedule; `name` defaults to
  the name gin knows it by.
  """
  name = name or gin_name(configurable)
  for parameter, value in sorted(_effective_arguments(configurable, name).items()):
    if value is None or value is gin.REQUIRED:
      continue
    for pattern, ok, expected in _RULES:
      if re.fullmatch(pattern, parameter) and not ok(value):
        raise UserError(f'{name}.{parameter}={value!r} is invalid: expected '
                        f'{expected}; fix the {name}.{parameter} binding.')


def user_error_from_trace(error):
  """The message of the error autograph wrapped into `error`, else None.

  Autograph re-raises an exception from a traced function as a StagingError (or the
  same type) whose message is 'in user code:', the traced frames, and finally the
  original 'ErrorType: message'.
  """
  text = str(error)
  if not text.lstrip().startswith('in user code:'):
    return None
  for line in reversed(text.splitlines()):
    match = re.match(r'\s*([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$', line)
    if match:
      return match.group(2).strip()
  return None


def runtime_error_summary(error):
  """The line of a TensorFlow runtime error that says what went wrong.

  A failed op reports 'Graph execution error:', the frames that defined the node,
  then the op's own message (e.g. 'assertion failed: [...]') and the node name.
  """
  for line in str(error).splitlines():
    line = line.strip()
    if (not line or line.startswith(('Graph execution error', 'Detected at node', 'File ',
                                     '[[')) or line.startswith('in user code')):
      continue
    return re.sub(r'\s*\[\[\{\{node .*$', '', line).replace("\\'", "'").rstrip('.')
  return type(error).__name__


def dummy_specs(problem, batch_size):
  """TensorSpecs of a batch of `batch_size` examples of `problem`."""
  return {k: tf.TensorSpec([batch_size] + list(s.shape), s.dtype)
          for k, s in problem.feature_spec().items()}


def trace_step(model, problem, objective, model_name):
  """The forward graph of one example (model + objective), traced without running.

  Raises UserError for a setting the model or TensorFlow rejects while tracing.
  """
  def forward(features):
    out = model(features, training=True, seed=tf.constant([0, 0], tf.int32))
    return objective(out, tf.constant(1, tf.int64))

  try:
    return tf.function(forward, autograph=False).get_concrete_function(
        dummy_specs(problem, 1)).graph
  except UserError as e:
    raise UserError(f'cannot run model {model_name} on problem '
                    f'{problem.registered_name}: {errors.first_line(e)}; check the '
                    f'{model_name}.* gin bindings.') from None
  except (ValueError, TypeError, tf.errors.OpError) as e:
    raise UserError(f'cannot run model {model_name} on problem '
                    f'{problem.registered_name}: {errors.first_line(e)}; check the '
                    f'{model_name}.* and train.* gin bindings.') from None


def graph_tensor_sizes(graph):
  """(summed bytes, bytes and elements of the largest tensor) of a graph's outputs."""
  total, largest, largest_elements = 0, 0, 0
  for op in graph.get_operations():
    for tensor in op.outputs:
      if tensor.dtype in (tf.resource, tf.variant, tf.string):
        continue
      if not tensor.shape.is_fully_defined():
        continue
      elements = tensor.shape.num_elements()
      size = elements * tensor.dtype.size
      total += size
      if size > largest:
        largest, largest_elements = size, elements
  return total, largest, largest_elements


def memory_estimate(graph, num_parameters, examples_per_replica, replicas):
  """Bytes a training step needs on the host, from the one-example forward graph.

  Per example max(LIVE_FRACTION x summed tensor sizes, largest tensor), times the
  examples on each replica, plus BYTES_PER_PARAMETER per parameter, for every replica
  (replicas on one host share its memory). Returns (total, per example, parameters).
  """
  total, largest, _ = graph_tensor_sizes(graph)
  per_example = max(LIVE_FRACTION * total, largest)
  parameters = BYTES_PER_PARAMETER * num_parameters
  return (replicas * (per_example * examples_per_replica + parameters), per_example,
          parameters)


def available_memory():
  """Bytes this process can still allocate: free RAM, within a cgroup limit if any."""
  available = psutil.virtual_memory().available
  for limit_file, usage_file in (
      ('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory.current'),
      ('/sys/fs/cgroup/memory/memory.limit_in_bytes',
       '/sys/fs/cgroup/memory/memory.usage_in_bytes')):
    try:
      with open(limit_file) as f:
        limit = f.read().strip()
      with open(usage_file) as f:
        usage = int(f.read().strip())
    except (OSError, ValueError):
      continue
    if limit.isdigit() and int(limit) < 2**60:
      available = min(available, max(int(limit) - usage, 0))
  return available


def gigabytes(size):
  """'677.8 GB', or '12.5 MB' below a gigabyte."""
  return f'{size / 1e9:,.1f} GB' if size >= 1e9 else f'{size / 1e6:.1f} MB'


def check_memory(graph, num_parameters, batch_size, replicas, describe, available=None):
  """UserError if a step at `batch_size` (global) will not fit in available memory.

  `describe` names what is trained, e.g. 'vae_conv on 2000x2000x3 images'.
  """
  available = available_memory() if available is None else available
  per_replica = batch_size // replicas
  need, per_example, parameters = memory_estimate(graph, num_parameters, per_replica,
                                                  replicas)
  if need <= available:
    return need
  per_replica_fits = int((available / replicas - parameters) // per_example)
  fits = max(per_replica_fits, 0) * replicas
  advice = (f'lower train.batch_size to at most {fits}' if fits >= replicas else
            'even one example per replica does not fit: use smaller inputs or a '
            'smaller model')
  raise UserError(
      f'train.batch_size={batch_size} will not fit in memory: {describe} needs an '
      f'estimated {gigabytes(need)} ({gigabytes(per_example)} per example, '
      f'{gigabytes(parameters * replicas)} for weights and optimizer state) but '
      f'{gigabytes(available)} is available; {advice}, or pass --nocheck_memory to try '
      'anyway.')


def check_tensor_sizes(graph, batch_size, replicas, describe):
  """UserError if a tensor of a step at `batch_size` would exceed int32 indexing."""
  _, _, largest_elements = graph_tensor_sizes(graph)
  per_replica = batch_size // replicas
  if largest_elements * per_replica > INT32_MAX:
    limit = INT32_MAX // max(largest_elements, 1) * replicas
    advice = (f'use train.batch_size <= {limit}' if limit >= replicas else
              'even one example per replica is too large: use smaller inputs or a '
              'smaller model')
    raise UserError(
        f'train.batch_size={batch_size} is too large: {describe} would have tensors of '
        f'{largest_elements * per_replica:.3g} elements, more than TensorFlow\'s int32 '
        f'limit ({INT32_MAX}); {advice}.')


def describe_inputs(problem, model_name):
  """'vae_conv on 2000x2000x3 images' or 'delta_vae_text on sentences of 32 tokens'."""
  spec = problem.feature_spec()
  if 'image' in spec:
    return f'{model_name} on {"x".join(str(d) for d in spec["image"].shape)} images'
  if 'targets' in spec:
    return f'{model_name} on sentences of {spec["targets"].shape[0]} tokens'
  return model_name


def on_cpu(strategy):
  """Whether the strategy's replicas live in host memory."""
  devices = getattr(strategy.extended, 'worker_devices', ()) or ()
  return all('CPU' in d.upper() for d in devices)
