r"""t2t-delta-report: compare runs on the rate–distortion plane.

    t2t-delta-report runs/delta_* runs/beta_* runs/free_bits_* --out=report

For every run directory, reads run.json, config.gin and metrics.jsonl, picks the
latest record of --split (preferring records written by t2t-delta-eval, which carry
the importance-sampled NLL and probe accuracies), and classifies the run into an
objective family from its configuration:

    δ-VAE (AR1), independent δ, β-VAE, free bits, KL annealing, target rate, VLAE,
    VAE (N(0,1), plain ELBO), AR baseline (no latents)

It writes to --out:

* rate_distortion.png   distortion vs rate and −ELBO vs rate (rate and distortion in
                        bits per example, as the δ-VAE paper's fig. 4; −ELBO in the
                        problem's unit), one marker per family;
* probe_vs_rate.png     linear-probe accuracy of each label vs rate (with the
                        majority-class baseline);
* information_vs_rate.png  mutual information I_q(x; z) and the decoder's gain from
                        z (swap gain, contrastive bound) vs rate, beside the line
                        information = rate and the zero of a model that ignores its
                        latents (records of t2t-delta-eval);
* report.md             a Markdown table (likelihoods in the problem's unit, i.e.
                        bits/dim for images), also printed.
"""

import json
import math
import os
import re

from absl import flags

from t2t_delta import cli_common
from t2t_delta import errors
from t2t_delta.errors import UserError
from t2t_delta.runtime import files  # no TensorFlow import

FLAGS = flags.FLAGS
flags.DEFINE_string('out', None, 'Directory for the plots and report.md.')
flags.DEFINE_string('split', 'test', 'Split whose records are compared.')
flags.DEFINE_string('title', 'Rate–distortion', 'Title of the plots and the report.')

FAMILIES = ('δ-VAE (AR1)', 'independent δ', 'β-VAE', 'free bits', 'KL annealing',
            'target rate', 'VLAE', 'VAE (N(0,1))', 'AR baseline', 'other')
MARKERS = dict(zip(FAMILIES, ('o', 'D', 's', '^', 'v', 'P', '*', 'X', 'h', '.')))
OBJECTIVE_FAMILIES = {'beta_vae': 'β-VAE', 'free_bits': 'free bits',
                      'kl_annealing': 'KL annealing', 'target_rate': 'target rate'}
OBJECTIVE_PARAMS = {'beta_vae': ('beta', 'β'), 'free_bits': ('lambda_nats', 'λ'),
                    'kl_annealing': ('warmup_steps', 'warm-up'),
                    'target_rate': ('target_nats', 'R*')}
NO_LATENT_MODELS = ('ar_image', 'ar_text')


# ---- reading runs --------------------------------------------------------------------
def parse_gin_bindings(text):
  """`{'scope.name': 'value text'}` of the top-level bindings of a gin config."""
  bindings = {}
  for line in text.splitlines():
    line = line.split('#', 1)[0].strip()
    match = re.match(r'^([\w./]+)\s*=\s*(.+)$', line)
    if match:
      bindings[match.group(1)] = match.group(2).strip()
  return bindings


def _binding(bindings, name):
  """The value bound to `name`, matching gin's module-qualified forms too."""
  for key, value in bindings.items():
    if key == name or key.endswith('.' + name) or key.endswith('/' + name):
      return value
  return None


def _literal(value):
  if value is None:
    return None
  value = value.strip()
  if value in ('None', 'none'):
    return None
  try:
    return json.loads(value.replace("'", '"'))
  except ValueError:
    return value


def objective_name(bindings):
  value = _binding(bindings, 'train.objective')
  if not value:
    return 'elbo'
  return value.lstrip('@').split('.')[-1].split('/')[-1]


def classify(model, bindings):
  """`(family, setting)` of a run from its model name and gin bindings."""
  objective = objective_name(bindings)
  if model in NO_LATENT_MODELS:
    return 'AR baseline', ''
  setting = ''
  if objective in OBJECTIVE_PARAMS:
    param, symbol = OBJECTIVE_PARAMS[objective]
    value = _literal(_binding(bindings, f'{objective}.{param}'))
    if value is not None:
      setting = f'{symbol}={value:g}' if isinstance(value, (int, float)) else \
          f'{symbol}={value}'
  if model.startswith('vlae'):
    posterior = _literal(_binding(bindings, f'{model}.posterior')) or 'gaussian'
    extra = ', IAF' if posterior == 'iaf' else ''
    return 'VLAE', (setting + extra).strip(', ')
  if objective in OBJECTIVE_FAMILIES:
    return OBJECTIVE_FAMILIES[objective], setting
  posterior = _literal(_binding(bindings, f'{model}.posterior_type'))
  prior = _literal(_binding(bindings, f'{model}.prior_type')) or 'ar1'
  committed = _literal(_binding(bindings, f'{model}.committed_rate_bits'))
  if posterior == 'independent_delta':
    return 'independent δ', f'δ={committed:g} bits' if committed is not None else ''
  if prior == 'ar1' and model.startswith('delta_vae'):
    if committed is not None:
      return 'δ-VAE (AR1)', f'δ={committed:g} bits'
    alpha_hi = _literal(_binding(bindings, f'{model}.alpha_hi'))
    return 'δ-VAE (AR1)', f'α_hi={alpha_hi:g}' if isinstance(alpha_hi, float) else ''
  if prior == 'standard_normal' or model.startswith('vae'):
    return 'VAE (N(0,1))', ''
  return 'other', ''


def pick_record(records, split):
  """Latest record of `split`, preferring t2t-delta-eval records at that step."""
  candidates = [r for r in records if r.get('split') == split]
  if not candidates:
    return None
  last_step = max(r.get('step', 0) for r in candidates)
  at_step = [r for r in candidates if r.get('step', 0) == last_step]
  evaluated = [r for r in at_step if r.get('evaluator')]
  return (evaluated or at_step)[-1]


def load_run(path, split='test'):
  """Everything the report needs about one run, or raises UserError."""
  info_path = os.path.join(path, 'run.json')
  if not os.path.exists(info_path):
    raise UserError(f'{path!r} is not a run directory (no run.json).')
  with open(info_path) as f:
    info = json.load(f)
  config_path = os.path.join(path, 'config.gin')
  bindings = {}
  if os.path.exists(config_path):
    with open(config_path) as f:
      bindings = parse_gin_bindings(f.read())
  record = pick_record(files.read_jsonl(os.path.join(path, 'metrics.jsonl')), split)
  if record is None:
    raise UserError(f'{path} has no {split!r} record in metrics.jsonl; train to the end '
                    'or run t2t-delta-eval on it.')
  family, setting = classify(info.get('model', ''), bindings)
  return {'name': os.path.basename(os.path.normpath(path)), 'path': path,
          'model': info.get('model'), 'problem': info.get('problem'),
          'family': family, 'setting': setting, 'record': record}


# ---- outputs -------------------------------------------------------------------------
def _label_keys(runs):
  keys = set()
  for run in runs:
    keys.update(k[len('probe_'):-len('_accuracy')] for k in run['record']
                if k.startswith('probe_') and k.endswith('_accuracy'))
  return sorted(keys)


def _fmt(value, spec='.4f'):
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return '–'
  return format(value, spec)


def markdown_table(runs, title='Rate–distortion'):
  unit = runs[0]['record'].get('unit', '') if runs else ''
  labels = _label_keys(runs)
  header = (['run', 'family', 'setting', 'step', f'−ELBO ({unit})',
             f'NLL-IS ({unit})', f'rate ({unit})', f'distortion ({unit})',
             'rate (bits/ex)', 'distortion (bits/ex)'] +
            [f'probe {k}' for k in labels])
  rows = []
  for run in runs:
    r = run['record']
    rows.append([run['name'], run['family'], run['setting'] or '–', str(r.get('step')),
                 _fmt(r.get('nelbo')), _fmt(r.get('nll_is')), _fmt(r.get('rate')),
                 _fmt(r.get('distortion')), _fmt(r.get('rate_bits_per_example'), '.2f'),
                 _fmt(r.get('distortion_bits_per_example'), '.1f')] +
                [_fmt(r.get(f'probe_{k}_accuracy'), '.3f') for k in labels])
  lines = [f'# {title}', '',
           '| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' if i < 3 else '---:' for i in range(len(header))) + '|']
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  majority = {}
  for k in labels:
    values = [run['record'][f'probe_{k}_majority'] for run in runs
              if f'probe_{k}_majority' in run['record']]
    if values:
      majority[k] = values[0]
  if majority:
    lines += ['', 'Majority-class baseline: ' +
              ', '.join(f'{k} {v:.3f}' for k, v in majority.items()) + '.']
  lines += ['', f'Split: {runs[0]["record"].get("split") if runs else "–"}. Rate and '
            'distortion per example in bits (the paper\'s rate–distortion plots); '
            f'likelihoods in {unit}. NLL-IS: importance-sampled NLL '
            '(t2t-delta-eval --nll_samples).']
  lines += information_table(runs)
  return '\n'.join(lines) + '\n'


def information_table(runs):
  """Markdown lines: information diagnostics and probe baselines, when recorded."""
  runs = [run for run in runs if 'mi_bits' in run['record']]
  if not runs:
    return []
  labels = _label_keys(runs)
  header = (['run', 'rate (bits/ex)', 'MI (bits)', 'swap gain (bits)',
             'contrastive (bits)', 'active units'] +
            [f'probe {k}: means / samples / untrained' for k in labels])
  lines = ['', '## Information', '',
           '| ' + ' | '.join(header) + ' |',
           '|---|' + '|'.join('---:' for _ in header[1:]) + '|']
  for run in runs:
    r = run['record']
    probes = [' / '.join(_fmt(r.get(f'probe_{k}_accuracy{suffix}'), '.3f')
                         for suffix in ('', '_samples', '_untrained'))
              for k in labels]
    lines.append('| ' + ' | '.join(
        [run['name'], _fmt(r.get('rate_bits_per_example'), '.2f'),
         _fmt(r.get('mi_bits'), '.2f'), _fmt(r.get('swap_gain_bits'), '.2f'),
         f"{_fmt(r.get('contrastive_bits'), '.2f')} (max "
         f"{_fmt(r.get('contrastive_max_bits'), '.1f')})",
         f"{r.get('active_units', '–')}/{r.get('latent_units', '–')}"] + probes) + ' |')
  lines += ['', 'MI: I_q(x; z) over the evaluated examples (at most log2 N). Swap gain: '
            'what the decoder gains from its own latent over other examples\' latents; '
            'contrastive: the InfoNCE lower bound on I(x; z) with the decoder as '
            'critic. A model that ignores its latents scores 0 on all three. Probes: '
            'trained encoder on posterior means / on samples / untrained encoder on '
            'means.']
  return lines


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(plt, fig, path, title):
  """Titles, lays out, writes and closes `fig`; returns `path`."""
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def _by_family(runs):
  groups = {}
  for run in runs:
    groups.setdefault(run['family'], []).append(run)
  return groups


def plot_rate_distortion(runs, path, title='Rate–distortion'):
  plt = _pyplot()
  unit = runs[0]['record'].get('unit', '') if runs else ''
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
  for family, group in _by_family(runs).items():
    rate = [g['record'].get('rate_bits_per_example', float('nan')) for g in group]
    dist = [g['record'].get('distortion_bits_per_example', float('nan')) for g in group]
    nelbo = [g['record'].get('nelbo', float('nan')) for g in group]
    marker = MARKERS.get(family, '.')
    axes[0].scatter(rate, dist, marker=marker, s=50, label=family)
    axes[1].scatter(rate, nelbo, marker=marker, s=50, label=family)
    for g, x, y, e in zip(group, rate, dist, nelbo):
      if g['setting']:
        axes[0].annotate(g['setting'], (x, y), fontsize=7, xytext=(3, 3),
                         textcoords='offset points')
        axes[1].annotate(g['setting'], (x, e), fontsize=7, xytext=(3, 3),
                         textcoords='offset points')
  axes[0].set_xlabel('rate (bits per example)')
  axes[0].set_ylabel('distortion (bits per example)')
  axes[0].set_title('distortion vs rate')
  axes[1].set_xlabel('rate (bits per example)')
  axes[1].set_ylabel(f'−ELBO ({unit})')
  axes[1].set_title('−ELBO vs rate')
  for ax in axes:
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize='small')
  return _save(plt, fig, path, title)


def plot_probe(runs, path, title='Linear probe'):
  plt = _pyplot()
  labels = _label_keys(runs)
  panels = max(len(labels), 1)
  fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4), squeeze=False)
  for ax, key in zip(axes[0], labels or [None]):
    if key is None:
      ax.text(0.5, 0.5, 'no probe results\n(run t2t-delta-eval --probe)',
              ha='center', va='center', transform=ax.transAxes)
      continue
    for family, group in _by_family(runs).items():
      points = [(g['record']['rate_bits_per_example'],
                 g['record'][f'probe_{key}_accuracy'])
                for g in group if f'probe_{key}_accuracy' in g['record']]
      if points:
        xs, ys = zip(*points)
        ax.scatter(xs, ys, marker=MARKERS.get(family, '.'), s=50, label=family)
    majority = [r['record'][f'probe_{key}_majority'] for r in runs
                if f'probe_{key}_majority' in r['record']]
    if majority:
      ax.axhline(majority[0], color='grey', linestyle='--', linewidth=1,
                 label='majority class')
    ax.set_xlabel('rate (bits per example)')
    ax.set_ylabel('test accuracy')
    ax.set_title(f'probe: {key}')
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize='small')
  return _save(plt, fig, path, title)


def plot_information(runs, path, title='Information'):
  """MI and the decoder's gain vs rate (bits per example), with their baselines."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
  measured = [run for run in runs if 'mi_bits' in run['record']]
  rates = [run['record']['rate_bits_per_example'] for run in measured] or [1.0]
  for ax, keys, name in ((axes[0], ('mi_bits',), 'mutual information I_q(x; z)'),
                         (axes[1], ('swap_gain_bits', 'contrastive_bits'),
                          "decoder's gain from z")):
    for family, group in _by_family(measured).items():
      for key in keys:
        points = [(g['record']['rate_bits_per_example'], g['record'][key])
                  for g in group if key in g['record']]
        if points:
          xs, ys = zip(*points)
          label = family if len(keys) == 1 else f'{family}: {key[:-5].replace("_", " ")}'
          ax.scatter(xs, ys, marker=MARKERS.get(family, '.'), s=50, label=label,
                     facecolors='none' if key == 'contrastive_bits' else None,
                     edgecolors='C0' if key == 'contrastive_bits' else None)
    top = max(rates) * 1.05
    ax.plot([0, top], [0, top], color='grey', linestyle=':', linewidth=1,
            label='= rate (upper bound)')
    ax.axhline(0.0, color='grey', linestyle='--', linewidth=1,
               label='latents ignored (0)')
    ax.set_xlabel('rate (bits per example)')
    ax.set_ylabel('bits per example')
    ax.set_title(name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small')
  if not measured:
    axes[0].text(0.5, 0.5, 'no information records\n(run t2t-delta-eval)',
                 ha='center', va='center', transform=axes[0].transAxes)
  return _save(plt, fig, path, title)


def write_report(run_dirs, out_dir, split='test', title='Rate–distortion'):
  """Load runs, write the two PNGs and report.md into `out_dir`; returns the paths."""
  if not run_dirs:
    raise UserError('no run directories given; usage: t2t-delta-report RUN_DIR... '
                    '--out=DIR.')
  runs = [load_run(path, split) for path in run_dirs]
  runs.sort(key=lambda r: (FAMILIES.index(r['family']),
                           r['record'].get('rate_bits_per_example', 0.0)))
  os.makedirs(out_dir, exist_ok=True)
  paths = {
      'rate_distortion': plot_rate_distortion(
          runs, os.path.join(out_dir, 'rate_distortion.png'), title),
      'probe': plot_probe(runs, os.path.join(out_dir, 'probe_vs_rate.png'),
                          f'{title}: linear probe'),
      'information': plot_information(
          runs, os.path.join(out_dir, 'information_vs_rate.png'),
          f'{title}: information'),
  }
  table = markdown_table(runs, title)
  paths['markdown'] = os.path.join(out_dir, 'report.md')
  with open(paths['markdown'], 'w') as f:
    f.write(table)
  return paths, table


TOOL = cli_common.Tool('t2t-delta-report', __doc__, anchor_flag='out',
                      positional='RUN_DIR...', tensorflow=False)
parse_flags = TOOL.parse_flags


def run(argv):
  if not FLAGS.out:
    raise UserError('missing --out (directory for the plots and report.md).')
  errors.check_output_path('--out', FLAGS.out, kind='dir')
  paths, table = write_report(argv[1:], FLAGS.out, FLAGS.split, FLAGS.title)
  print(table)
  print('Wrote ' + ', '.join(paths.values()))
  return 0


_main = TOOL.guarded(run)
main = TOOL.console_script(_main)


if __name__ == '__main__':
  main()
