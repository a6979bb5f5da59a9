"""Shared pieces of the benchmark suite: configurations, trainers, timing, FLOPs.

Every benchmark builds what it measures through the library itself: the problem and
model from a gin file (`t2t_delta.runtime.gin_config.parse_gin` + `RunSetup`), the
training step from `t2t_delta.train.trainer.Trainer` (its compiled `steps_per_loop`
loop, the objective and the library's Adam), the input pipeline from
`t2t_delta.train.inputs`.
The machine is shared and noisy, so each benchmark also measures a reference in the
same process and reports a ratio against it.

Configurations (`CONFIGS`): the four gin files of the suite, each with a problem that
needs no download:

  image_tiny        gin/image_tiny.gin on image_synthetic (16x16x3), batch 32
  cifar10_ablation  gin/cifar10_ablation.gin on image_synthetic at 32x32x3, batch 8
  text_tiny         gin/text_tiny.gin on text_synthetic (32 tokens), batch 32
  lm1b              gin/lm1b.gin on `bench_random_text` (vocab 32000, 256 tokens), batch 8

FLOPs are counted from the traced TensorFlow graph of the training step (`graph_flops`):
every MatMul, BatchMatMul, Einsum, Conv2D, Conv2DBackpropInput and
Conv2DBackpropFilter, with static shapes, 2 FLOPs per multiply-add, in the step and in
every function it calls (the XLA-compiled forward/backward of `train.jit_compile`, the
While loops of the LSTM prior, multiplied by their constant trip counts). The graph is
the one the timed loop runs, so forward, backward and the Adam update are all in it;
element-wise work (activations, DMOL, Adam's arithmetic) is not counted, the usual
"model FLOPs" convention, so achieved FLOP/s is a lower bound on the arithmetic rate.
(XLA's optimised HLO would also give the count, but producing it compiles the whole
step, minutes per configuration on two loaded cores; the graph walk needs no compile.)
"""

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from t2t_delta import quiet  # noqa: E402

tf = quiet.import_tensorflow_quietly()
# Several trainers (one per configuration and jit setting) trace the same loop source;
# TensorFlow's "excessive retracing" warning counts them as retraces of one function.
tf.get_logger().setLevel('ERROR')

import numpy as np  # noqa: E402

from t2t_delta import registry  # noqa: E402
from t2t_delta.problems.base import TextProblem  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_DIR = os.path.join(REPO, 'gin')


# ---- a bench-only problem -----------------------------------------------------------
@registry.register_problem('bench_random_text')
class BenchRandomText(TextProblem):
  """Uniformly random token ids, every sentence filling the whole window (bench only).

  Gin parameters: vocab_size (32000), max_length (256), num_train (256), num_test (16),
  seed (0). Ids are drawn from [2, vocab_size) and the last position holds EOS, so every
  example costs a full-length forward and backward pass (the worst case for LM1B).
  """

  def __init__(self, data_dir=None, vocab_size=32000, max_length=256, num_train=256,
               num_test=16, seed=0):
    super().__init__(data_dir)
    self._vocab_size, self._max_length = int(vocab_size), int(max_length)
    self.sizes = {'train': int(num_train), 'eval': int(num_test), 'test': int(num_test)}
    self.seed = int(seed)
    self._cache = {}

  @property
  def vocab_size(self):
    return self._vocab_size

  @property
  def max_length(self):
    return self._max_length

  def text_to_ids(self, text):
    return [2 + (hash(w) % (self._vocab_size - 2)) for w in text.split()]

  def ids_to_text(self, ids):
    return ' '.join(str(i) for i in ids if i > 1)

  def arrays(self, split):
    split = self._check_split(split)
    if split not in self._cache:
      rng = np.random.default_rng([self.seed, ('train', 'eval', 'test').index(split)])
      n, t = self.sizes[split], self._max_length
      targets = rng.integers(2, self._vocab_size, (n, t)).astype(np.int32)
      targets[:, -1] = self.EOS_ID
      self._cache[split] = {'targets': targets, 'mask': np.ones((n, t), np.float32)}
    return self._cache[split]


# ---- configurations -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BenchConfig:
  name: str
  gin_file: str
  problem: str
  model: str
  batch_size: int
  gin_params: tuple = ()

  @property
  def modality(self):
    return 'image' if 'image' in self.model else 'text'


CONFIGS = {
    'image_tiny': BenchConfig(
        'image_tiny', 'image_tiny.gin', 'image_synthetic', 'delta_vae_image', 32,
        ('image_synthetic.num_train = 512', 'image_synthetic.num_eval = 32',
         'image_synthetic.num_test = 32')),
    'cifar10_ablation': BenchConfig(
        'cifar10_ablation', 'cifar10_ablation.gin', 'image_synthetic', 'delta_vae_image',
        8, ('image_synthetic.image_size = 32', 'image_synthetic.num_train = 256',
            'image_synthetic.num_eval = 16', 'image_synthetic.num_test = 16')),
    'text_tiny': BenchConfig(
        'text_tiny', 'text_tiny.gin', 'text_synthetic', 'delta_vae_text', 32,
        ('text_synthetic.num_train = 512', 'text_synthetic.num_eval = 32',
         'text_synthetic.num_test = 32')),
    'lm1b': BenchConfig(
        'lm1b', 'lm1b.gin', 'bench_random_text', 'delta_vae_text', 8,
        ('bench_random_text.vocab_size = 32000', 'bench_random_text.max_length = 256')),
}
# Configurations whose step costs hundreds of GFLOP (tens of seconds on two cores):
# timed over fewer rounds, and steps_per_loop is compared on the light ones only, where
# the per-call host overhead is not negligible against the step.
HEAVY = ('cifar10_ablation', 'lm1b')
# Fractions of the machine's limit (`Reference.limit`) the full-size configurations
# should reach on the 2-core CPU; the PyTorch peers at the same shapes reach 58%
# (PixelCNN++) and 43% (causal Transformer LM) there.
TARGETS = {'cifar10_ablation': 0.60, 'lm1b': 0.45}


BATCH_SCALE_ENV = 'T2T_DELTA_BENCH_BATCH_SCALE'


def set_batch_scale(scale):
  """Multiplies every configuration's batch size by `scale` (e.g. 16 on a GPU).

  Kept in the environment, so that benchmark subprocesses (bench.memory) follow it.
  """
  if int(scale) < 1:
    raise SystemExit(f'--batch_scale must be a positive integer, got {scale}')
  os.environ[BATCH_SCALE_ENV] = str(int(scale))


def batch_scale():
  return int(os.environ.get(BATCH_SCALE_ENV, '1'))


def config(name):
  """The `BenchConfig` called `name`, its batch size multiplied by `batch_scale()`."""
  c = CONFIGS[name]
  return dataclasses.replace(c, batch_size=c.batch_size * batch_scale())


def config_names(arg):
  """'all' or a comma-separated list -> list of config names (checked)."""
  names = list(CONFIGS) if arg in (None, '', 'all') else arg.split(',')
  unknown = [n for n in names if n not in CONFIGS]
  if unknown:
    raise SystemExit(f'unknown config(s) {unknown}; valid: {", ".join(CONFIGS)}')
  return names


# ---- building through the library ---------------------------------------------------
@contextlib.contextmanager
def temp_dir(prefix='t2t_delta_bench_'):
  path = tempfile.mkdtemp(prefix=prefix)
  try:
    yield path
  finally:
    shutil.rmtree(path, ignore_errors=True)


def parse(config, extra_params=()):
  """Parse the config's gin file plus bindings (batch size, problem size, extras)."""
  from t2t_delta.runtime import gin_config  # pylint: disable=g-import-not-at-top
  registry.list_models()
  params = list(config.gin_params) + [f'train.batch_size = {config.batch_size}',
                                      'train.log_every = 0'] + list(extra_params)
  gin_config.parse_gin([os.path.join(GIN_DIR, config.gin_file)], params)


def build_problem(config, extra_params=()):
  from t2t_delta.runtime import run_setup  # pylint: disable=g-import-not-at-top
  parse(config, extra_params)
  setup = run_setup.RunSetup(config.problem, config.model, output_dir=None)
  setup.build()
  return setup.problem


def bench_strategy():
  """--strategy of the benchmarks' trainers: 'cpu' (one CPU device) without GPUs,
  else 'auto' (MirroredStrategy over the visible GPUs)."""
  return 'auto' if bench_device() == 'GPU' else 'cpu'


def build_trainer(config, output_dir, jit_compile=False, steps_per_loop=1, seed=0,
                  extra_params=()):
  """A `Trainer` for `config` on the bench device (`bench_strategy`), nothing restored."""
  # pylint: disable=g-import-not-at-top
  from t2t_delta.runtime import run_setup
  from t2t_delta.train import strategies
  from t2t_delta.train import trainer as trainer_lib
  params = [f'train.jit_compile = {jit_compile}', f'train.steps_per_loop = {steps_per_loop}']
  parse(config, params + list(extra_params))
  setup = run_setup.RunSetup(config.problem, config.model, output_dir, seed=seed)
  setup.build()
  return trainer_lib.Trainer.for_run(setup, strategies.make_strategy(bench_strategy()),
                                     write_run_info=False)


class StepRunner:
  """Runs a trainer's compiled training loop (`Trainer._build_train_loop`) directly.

  This is the code `Trainer.train` runs between host-side work (logging, evaluation,
  checkpoints): `steps_per_loop` steps per call, inputs from `inputs.train_dataset`
  through the strategy. `run(num_steps)` returns the seconds one call took.
  """

  def __init__(self, trainer):
    from t2t_delta.train import inputs  # pylint: disable=g-import-not-at-top
    self.trainer = trainer
    c = trainer.config
    self.loop = trainer._build_train_loop()  # pylint: disable=protected-access
    dataset = trainer.strategy.distribute_datasets_from_function(
        lambda ctx: inputs.train_dataset(trainer.problem, c.batch_size, trainer.seed, 0,
                                         ctx))
    self.iterator = iter(dataset)
    self.last = None

  def run(self, num_steps):
    start = time.perf_counter()
    sums, flags = self.loop(self.iterator, tf.constant(num_steps))
    self.last = {k: float(v) for k, v in sums.items()}
    if max(float(v) for v in flags.values()) > 0:
      raise RuntimeError(f'non-finite values in the benchmark step: {flags}')
    return time.perf_counter() - start


def time_steps(runner, steps_per_call, calls, warmup_calls=1, repeats=3):
  """Best-of-`repeats` seconds per step, each repeat timing `calls` calls."""
  for _ in range(warmup_calls):
    runner.run(steps_per_call)
  best = float('inf')
  for _ in range(repeats):
    total = sum(runner.run(steps_per_call) for _ in range(calls))
    best = min(best, total / (calls * steps_per_call))
  return best


def example_batch(trainer):
  """One per-replica training batch from the trainer's own input pipeline."""
  from t2t_delta.train import inputs  # pylint: disable=g-import-not-at-top
  ds = inputs.train_dataset(trainer.problem, trainer.config.batch_size, trainer.seed)
  return next(iter(ds))


# ---- the reference: the machine's limit for dense fp32 work ----------------------------
def bench_device():
  """'GPU' when TensorFlow sees a GPU (the trainers then run on it), else 'CPU'."""
  return 'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'


def reference_size():
  """Side n of the reference matmul: 2048 on CPUs, 8192 on GPUs (2048 cannot fill
  a GPU)."""
  return 8192 if bench_device() == 'GPU' else 2048


def matmul_flops_per_second(n=None, repeats=3, inner=2):
  """Best measured FLOP/s of an n x n fp32 `tf.matmul` in a tf.function (2 n^3 each).

  Runs on TensorFlow's default device (the GPU when there is one). Each timed call
  chains `inner` products, so the call overhead is amortised.
  """
  n = n or reference_size()
  a = tf.random.stateless_normal([n, n], [1, 2]) / np.sqrt(n)
  b = tf.random.stateless_normal([n, n], [3, 4]) / np.sqrt(n)

  @tf.function
  def chain(a, b):
    x = a
    for _ in range(inner):
      x = tf.matmul(x, b)
    return tf.reduce_sum(x[:1, :1])

  chain(a, b).numpy()
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    chain(a, b).numpy()
    best = min(best, time.perf_counter() - start)
  return 2.0 * n ** 3 * inner / best


def numpy_matmul_flops_per_second(n=2048, repeats=3):
  """Best measured FLOP/s of an n x n fp32 product `a @ b` with NumPy's BLAS."""
  rng = np.random.default_rng(0)
  a = rng.standard_normal((n, n), dtype=np.float32)
  b = rng.standard_normal((n, n), dtype=np.float32)
  a @ b
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - start)
  return 2.0 * n ** 3 / best


@dataclasses.dataclass
class Reference:
  """Dense fp32 matmul FLOP/s measured in this process, per library (best of its
  measurements); `limit` is the best of them, the machine's limit the utilisation of
  a step is quoted against. On a GPU the limit is TensorFlow's matmul on the GPU and
  NumPy (CPU) is not measured (0)."""
  numpy: float = 0.0
  tensorflow: float = 0.0

  @property
  def limit(self):
    return max(self.numpy, self.tensorflow)

  def merge(self, other):
    return Reference(max(self.numpy, other.numpy), max(self.tensorflow, other.tensorflow))


def measure_reference():
  """One `Reference` measurement: NumPy (CPU only) and TensorFlow, 2048^2 or 8192^2."""
  numpy = numpy_matmul_flops_per_second() if bench_device() == 'CPU' else 0.0
  return Reference(numpy, matmul_flops_per_second())


def reference_line(reference):
  numpy = (f'NumPy (BLAS) {reference.numpy / 1e9:.1f}' if reference.numpy
           else 'NumPy not measured (GPU)')
  return (f'dense fp32 matmul {reference_size()}^2 GFLOP/s: {numpy}, TensorFlow '
          f'{reference.tensorflow / 1e9:.1f}; the limit is the larger, '
          f'{reference.limit / 1e9:.1f}')


# ---- FLOPs from the traced graph ----------------------------------------------------
_FUNCTION_ATTRS = ('f', 'body', 'then_branch', 'else_branch', 'branches')
_WHILE_OPS = ('While', 'StatelessWhile')
COUNTED_OPS = ('MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Einsum',
               'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter')


def _static(shape):
  dims = shape.as_list() if shape.rank is not None else None
  if dims is None or any(d is None for d in dims):
    return None
  return dims


def _prod(values):
  out = 1
  for v in values:
    out *= int(v)
  return out


def _einsum_flops(op):
  equation = op.get_attr('equation').decode()
  inputs, output = equation.split('->')
  sizes = {}
  for term, tensor in zip(inputs.split(','), op.inputs):
    dims = _static(tensor.shape)
    if dims is None:
      return None
    if '...' in term:
      extra = len(dims) - (len(term) - 3)
      term = term.replace('...', ''.join(chr(ord('A') + i) for i in range(extra)))
    for letter, size in zip(term, dims):
      sizes[letter] = max(sizes.get(letter, 1), size)
  return 2 * _prod(sizes.values()) if len(op.inputs) > 1 else _prod(sizes.values())


def op_flops(op):
  """Multiply-add FLOPs (2 per MAC) of a matmul/conv-like op with static shapes.

  Returns None for other ops, or when a shape is not static.
  """
  t = op.type
  if t == 'MatMul':
    a, out = _static(op.inputs[0].shape), _static(op.outputs[0].shape)
    if a is None or out is None:
      return None
    k = a[0] if op.get_attr('transpose_a') else a[1]
    return 2 * _prod(out) * k
  if t in ('BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3'):
    a, out = _static(op.inputs[0].shape), _static(op.outputs[0].shape)
    if a is None or out is None:
      return None
    k = a[-2] if op.get_attr('adj_x') else a[-1]
    return 2 * _prod(out) * k
  if t in ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'):
    # All three cost 2 x (forward output elements) x (kernel h * w * in channels).
    if t == 'Conv2D':
      out, kernel = op.outputs[0].shape, op.inputs[1].shape
    elif t == 'Conv2DBackpropInput':
      out, kernel = op.inputs[2].shape, op.inputs[1].shape
    else:
      out, kernel = op.inputs[2].shape, op.outputs[0].shape
    out, kernel = _static(out), _static(kernel)
    if out is None or kernel is None:
      return None
    return 2 * _prod(out) * _prod(kernel[:3])
  if t == 'Einsum':
    return _einsum_flops(op)
  return None


def _constant_value(tensor):
  op = tensor.op
  while op.type == 'Identity':
    op = op.inputs[0].op
  if op.type != 'Const':
    return None
  return int(tf.get_static_value(op.outputs[0]))


def _function_graph(graph, name):
  while graph is not None:
    fn = graph._get_function(name)  # pylint: disable=protected-access
    if fn is not None:
      return fn.graph
    graph = getattr(graph, 'outer_graph', None)
  return None


class FlopCount:
  """Result of `graph_flops`: total, per op type, per top-level name scope."""

  def __init__(self):
    self.total = 0
    self.by_type = {}
    self.by_scope = {}
    self.unknown_shapes = 0
    self.dynamic_loops = []

  def add(self, op, flops, multiplier, scope):
    flops *= multiplier
    self.total += flops
    self.by_type[op.type] = self.by_type.get(op.type, 0) + flops
    self.by_scope[scope] = self.by_scope.get(scope, 0) + flops


def graph_flops(graph, skip_dynamic_loops=False):
  """Matmul/convolution FLOPs of a traced graph, following called functions.

  Counts MatMul, BatchMatMul*, Einsum, Conv2D and its two gradients (2 FLOPs per
  multiply-add, static shapes) in `graph` and in every function it calls
  (PartitionedCall / StatefulPartitionedCall, While bodies; every If / Case branch
  is counted, none occurs in the training steps here), a
  While body multiplied by its `maximum_iterations` when that is a constant. A While
  whose trip count is not a constant is counted once, or skipped with
  `skip_dynamic_loops` (used for the trainer's loop over steps 2..n of a call, so that
  the count is exactly the peeled first step). Ops whose results nothing reads are
  pruned by the runtime and not counted. Element-wise ops are not counted.
  """
  result = FlopCount()

  def scope_of(op, outer):
    if outer is not None:
      return outer
    parts = [p for p in op.name.split('/') if p not in ('gradient_tape', 'gradients')]
    return parts[0] if parts else op.name

  def live_ops(g):
    # Ops the function runtime executes: ancestors of its outputs and control outputs
    # (stateful ops are control outputs of a tf.function). Gradients that nothing
    # reads, e.g. of a first layer's input, are pruned at run time and not counted.
    roots = [t.op for t in getattr(g, 'outputs', [])] + list(
        getattr(g, 'control_outputs', []))
    if not roots:
      return g.get_operations()
    seen, stack = set(), list(roots)
    while stack:
      op = stack.pop()
      if op in seen:
        continue
      seen.add(op)
      stack.extend(t.op for t in op.inputs)
      stack.extend(op.control_inputs)
    return [op for op in g.get_operations() if op in seen]

  def walk(g, multiplier, outer_scope):
    for op in live_ops(g):
      flops = op_flops(op)
      scope = scope_of(op, outer_scope)
      if flops is not None:
        result.add(op, flops, multiplier, scope)
        continue
      if op.type in COUNTED_OPS:   # counted kind, but a shape is not static
        result.unknown_shapes += 1
      trip = 1
      if op.type in _WHILE_OPS:
        trip = _constant_value(op.inputs[1])
        if trip is None or trip < 0:   # not a constant, or -1: no maximum
          result.dynamic_loops.append(op.name)
          if skip_dynamic_loops:
            continue
          trip = 1
      for attr in _FUNCTION_ATTRS:
        try:
          value = op.get_attr(attr)
        except (ValueError, TypeError):
          continue
        names = [v.name for v in value] if isinstance(value, list) else [value.name]
        for name in names:
          sub = _function_graph(g, name)
          if sub is not None:
            walk(sub, multiplier * trip, scope)

  walk(graph, 1, None)
  return result


def step_flops(runner):
  """FLOPs of one training step, from the trainer loop's traced graph (`StepRunner`)."""
  concrete = runner.loop.get_concrete_function(runner.iterator, tf.constant(1))
  return graph_flops(concrete.graph, skip_dynamic_loops=True)


def fmt_rate(x, unit=''):
  for scale, prefix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
    if abs(x) >= scale:
      return f'{x / scale:.2f} {prefix}{unit}'
  return f'{x:.2f} {unit}'


def machine_line():
  load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
  gpus = tf.config.list_logical_devices('GPU')
  device = (f'{len(gpus)} GPU(s): {gpu_name()}' if gpus else 'CPU only')
  return (f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, {device}, batch scale '
          f'{batch_scale()}, load average {load:.1f} (shared machine: compare ratios, '
          'not absolute rates)')


def gpu_name():
  """Name and compute capability of the first GPU, or '' without one."""
  gpus = tf.config.list_physical_devices('GPU')
  if not gpus:
    return ''
  details = tf.config.experimental.get_device_details(gpus[0])
  capability = details.get('compute_capability')
  suffix = f' (compute capability {capability[0]}.{capability[1]})' if capability else ''
  return details.get('device_name', 'GPU') + suffix


# ---- per-process cache of built trainers --------------------------------------------
class Measured:
  """A built trainer, its compiled loop and what was measured on it (cached)."""

  def __init__(self, config, jit_compile):
    self.config, self.jit_compile = config, jit_compile
    self._dir = tempfile.mkdtemp(prefix=f't2t_delta_bench_{config.name}_')
    start = time.perf_counter()
    self.trainer = build_trainer(config, self._dir, jit_compile=jit_compile)
    self.runner = StepRunner(self.trainer)
    self.runner.run(1)           # trace (and with XLA, compile) + one step
    self.first_call_s = time.perf_counter() - start
    self._flops = None
    self.seconds_per_step = {}   # steps per call -> best seconds per step

  @property
  def flops(self):
    if self._flops is None:
      self._flops = step_flops(self.runner)
    return self._flops

  def close(self):
    shutil.rmtree(self._dir, ignore_errors=True)


_MEASURED = {}


def measured(name, jit_compile=False):
  """The cached `Measured` for config `name` (built on first use in this process)."""
  key = (name, bool(jit_compile))
  if key not in _MEASURED:
    _MEASURED[key] = Measured(config(name), bool(jit_compile))
  return _MEASURED[key]


def interleaved_best(timers, rounds):
  """Calls each timer (fn -> seconds) once per round, in turn; best per timer.

  Interleaving exposes every variant to the same load drift on a shared machine.
  """
  best = [float('inf')] * len(timers)
  for _ in range(rounds):
    for i, timer in enumerate(timers):
      best[i] = min(best[i], timer())
  return best


def step_timer(m, steps_per_call, steps=None):
  """fn() -> seconds per step over `steps` steps run as calls of `steps_per_call`.

  `steps` defaults to `steps_per_call` (one call). Variants compared against each other
  should time the same number of steps per sample: the best of single steps is biased
  low against the best of multi-step averages.
  """
  steps = steps or steps_per_call
  if steps % steps_per_call:
    raise ValueError(f'steps={steps} is not a multiple of steps_per_call={steps_per_call}')

  def timer():
    seconds = sum(m.runner.run(steps_per_call)
                  for _ in range(steps // steps_per_call)) / steps
    old = m.seconds_per_step.get(steps_per_call, float('inf'))
    m.seconds_per_step[steps_per_call] = min(old, seconds)
    return seconds
  return timer


_REFERENCES = []


def reference(refresh=False):
  """Best `Reference` measured in this process (measured once more on refresh)."""
  if refresh or not _REFERENCES:
    _REFERENCES.append(measure_reference())
  best = Reference()
  for r in _REFERENCES:
    best = best.merge(r)
  return best


def local_reference(fn):
  """Runs fn(); returns (its result, the `Reference` measured just before and just
  after it, best of both), so a ratio compares rates taken under the same load."""
  before = measure_reference()
  out = fn()
  after = measure_reference()
  _REFERENCES.extend([before, after])
  return out, before.merge(after)


# ---- where the time goes --------------------------------------------------------------
def _ops_by_trace_name(graph):
  """{name: op} for the ops of `graph` and of every function it calls.

  The profiler names an op inside a called function `outer/_N/inner`; the index keys
  such ops by `inner`, their name in the function's own graph.
  """
  index = {}

  def walk(g):
    for op in g.get_operations():
      index.setdefault(op.name, op)
      for attr in _FUNCTION_ATTRS:
        try:
          value = op.get_attr(attr)
        except (ValueError, TypeError):
          continue
        for fn in value if isinstance(value, list) else [value]:
          sub = _function_graph(g, fn.name)
          if sub is not None:
            walk(sub)

  walk(graph)
  return index


def profile_step(runner, steps=1, top=12):
  """Runs `steps` steps under the TensorFlow profiler; op time by op type.

  Returns (total op milliseconds, [(op type, milliseconds, share, GFLOP/s or None)]
  largest first) from the executor's op events on the host trace (`tf_Compute`
  threads); GFLOP/s is given for the matmul and convolution kinds that
  `graph_flops` counts. Ops running concurrently on several inter-op threads are
  summed, so the total can exceed wall time (and an op's time includes waiting for
  cores that a concurrent op holds); ops inside called functions (While bodies) are
  included.
  """
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  ops = _ops_by_trace_name(
      runner.loop.get_concrete_function(runner.iterator, tf.constant(steps)).graph)
  with temp_dir('t2t_delta_profile_') as logdir:
    tf.profiler.experimental.start(logdir)
    try:
      runner.run(steps)
    finally:
      tf.profiler.experimental.stop()
    paths = [os.path.join(root, f) for root, _, files in os.walk(logdir) for f in files
             if f.endswith('.xplane.pb')]
    space = xplane_pb2.XSpace()
    with open(paths[0], 'rb') as f:
      space.ParseFromString(f.read())
  by_type, flops_by_type, counted_ms = {}, {}, {}
  for plane in space.planes:
    for line in plane.lines:
      if not line.name.startswith('tf_Compute'):
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name   # 'op_name:OpType'
        if ':' not in name or '::' in name:
          continue
        op_name, op_type = name.rsplit(':', 1)
        ms = event.duration_ps * 1e-9
        by_type[op_type] = by_type.get(op_type, 0.0) + ms
        op = ops.get(op_name) or ops.get(re.split(r'/_\d+/', op_name)[-1])
        flops = op_flops(op) if op is not None else None
        if flops:
          flops_by_type[op_type] = flops_by_type.get(op_type, 0) + flops
          counted_ms[op_type] = counted_ms.get(op_type, 0.0) + ms
  total = sum(by_type.values())
  ranked = sorted(by_type.items(), key=lambda kv: -kv[1])[:top]
  return total, [(k, v, v / total if total else 0.0,
                  flops_by_type[k] / counted_ms[k] * 1e-6 if counted_ms.get(k) else None)
                 for k, v in ranked]
