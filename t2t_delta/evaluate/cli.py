r"""t2t-delta-eval: evaluate a trained run (likelihood bounds, information, probes).

    t2t-delta-eval --output_dir=runs/tiny --splits=eval,test --nll_samples=128 --tsne

Restores the latest checkpoint of --output_dir once, read-only (model rebuilt from the
run's config.gin plus any --gin_param), then for every split:

* −ELBO, rate and distortion over the whole split (under the model's prior; under the
  auxiliary prior too when the model has one);
* the importance-sampled NLL with K = --nll_samples samples from q(z|x) (0 disables);
* the information diagnostics (--info): mutual information I_q(x; z), the decoder's
  swap gain and contrastive bound from its own latent against --info_negatives other
  examples' latents, active units, KL per latent dimension, rate excess over δ and
  the rate under the auxiliary prior (bits per example; see README);
* linear-probe accuracy of every label of the problem from posterior means and from
  posterior samples (fitted on the train split), beside the same probes on the model
  at its initial weights (--untrained_baseline) and the majority-class baseline
  (--probe; on by default when the problem has labels);
* with --recon_examples=N (image problems with labels), how often a pixel classifier
  of each label agrees with the source image on decodings of its latent, beside
  decodings of another image's latent and the classifier's accuracy on real images;
* with --tsne, a t-SNE picture of the posterior means coloured by the first label,
  saved as tsne_<split>.png in --tsne_dir (default: the run directory).

Records are appended to the run's metrics.jsonl (with `"evaluator": "t2t-delta-eval"`)
and printed as a table; nothing else in the run directory changes. Exit status: 0
done, 2 bad input.
"""

import os

from absl import flags

from t2t_delta import cli_common
from t2t_delta.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string('output_dir', None, 'Run directory of a training run (has run.json, '
                    'config.gin and checkpoints).')
flags.DEFINE_list('splits', ['eval', 'test'], 'Comma-separated splits to evaluate.')
flags.DEFINE_multi_string('gin_param', [], 'Extra gin binding applied after the run\'s '
                          'config.gin (repeatable).')
flags.DEFINE_integer('nll_samples', 128, 'K, samples from q(z|x) per example for the '
                     'importance-sampled NLL; 0 disables it.')
flags.DEFINE_integer('nll_chunk', 16, 'Samples per compiled call of the NLL estimate '
                     '(memory grows with nll_chunk x batch size).')
flags.DEFINE_bool('aux_prior', False, 'Also estimate the NLL under the auxiliary prior '
                  '(models that have one).')
flags.DEFINE_bool('probe', None, 'Linear probes of every label from posterior means '
                  '(default: on when the problem has labels).')
flags.DEFINE_integer('probe_examples', None, 'Train examples used to fit the probes '
                     '(default: --max_examples if set, else 10000; 0: the whole train '
                     'split).')
flags.DEFINE_bool('info', True, 'Information diagnostics: mutual information, the '
                  "decoder's swap gain and contrastive bound, active units.")
flags.DEFINE_integer('info_negatives', 63, 'K, other examples\' latents each example '
                     'is decoded with (swap gain; the contrastive bound is at most '
                     'log2(K + 1) bits).')
flags.DEFINE_integer('info_examples', 1024, 'Examples of each split the information '
                     'diagnostics use (the mutual information is at most log2 of it); '
                     '0: the whole split.')
flags.DEFINE_bool('info_means', True, "Also the decoder's gain from posterior means "
                  '(one more set of K + 1 decoder passes).')
flags.DEFINE_enum('probe_method', 'sklearn', ('sklearn', 'paper'), 'Probe fitting: '
                  'standardised scikit-learn logistic regression, or the paper\'s '
                  'appendix F (Adam, 100 epochs, lr 0.003 x0.3 every 30).')
flags.DEFINE_bool('untrained_baseline', True, 'Also probe the model at its initial '
                  'weights (same gin bindings and seed): the baseline every probe '
                  'needs.')
flags.DEFINE_integer('recon_examples', 0, 'Image problems with labels: decode this many '
                     'images of each split from their own and from another image\'s '
                     'latent and report how often a pixel classifier of each label '
                     'agrees with the source (0: off).')
flags.DEFINE_integer('recon_train', 4096, 'Train images the pixel classifiers of '
                     '--recon_examples are fitted on.')
flags.DEFINE_bool('tsne', False, 'Save a t-SNE picture of the posterior means of each '
                  'split (tsne_<split>.png in --tsne_dir).')
flags.DEFINE_string('tsne_dir', None, 'Directory of the t-SNE pictures (default: the '
                    'run directory).')
flags.DEFINE_integer('max_examples', None, 'Evaluate only the first N examples of each '
                     'split (quick runs); default: whole splits.')
flags.DEFINE_integer('batch_size', None, 'Evaluation batch size (default: the run\'s '
                     'train.eval_batch_size or train.batch_size).')
flags.DEFINE_integer('seed', 0, 'Seed of the posterior and importance samples and the '
                     'probes.')


def _probe_examples():
  if FLAGS.probe_examples is None:
    return FLAGS.max_examples or 10000
  return FLAGS.probe_examples or None


def _check_flags():
  """Flag values that need no run, checked before TensorFlow is imported."""
  if not FLAGS.output_dir:
    raise UserError('missing --output_dir (the run directory to evaluate).')
  for name in ('nll_samples', 'info_examples', 'info_negatives', 'recon_examples'):
    if FLAGS[name].value < 0:
      raise UserError(f'--{name} must be >= 0, got {FLAGS[name].value}.')
  for name, low in (('batch_size', 1), ('nll_chunk', 1), ('max_examples', 1),
                    ('probe_examples', 0), ('recon_train', 1)):
    value = getattr(FLAGS, name)
    if value is not None and value < low:
      raise UserError(f'--{name}={value} must be >= {low} (omit it for the default).')
  if FLAGS.tsne_dir and not os.path.isdir(FLAGS.tsne_dir):
    raise UserError(f'--tsne_dir={FLAGS.tsne_dir} is not a directory; create it first.')


TOOL = cli_common.Tool('t2t-delta-eval', __doc__, anchor_flag='nll_samples',
                       early_check=_check_flags)
parse_flags = TOOL.parse_flags


def run(argv):
  del argv
  from t2t_delta.evaluate import evaluator  # pylint: disable=g-import-not-at-top
  from t2t_delta.problems import base  # pylint: disable=g-import-not-at-top
  bad = [s for s in FLAGS.splits if s not in base.SPLITS]
  if bad or not FLAGS.splits:
    raise UserError(f'--splits={",".join(FLAGS.splits)}; valid splits: '
                    f'{", ".join(base.SPLITS)}.')
  ev = evaluator.Evaluator(FLAGS.output_dir, FLAGS.gin_param, FLAGS.batch_size)
  probe = FLAGS.probe if FLAGS.probe is not None else bool(ev.problem.label_keys)
  print(f'Evaluating {FLAGS.output_dir} at step {ev.step} '
        f'({ev.model.summary()}).', flush=True)
  options = evaluator.Options(
      nll_samples=FLAGS.nll_samples, nll_chunk=FLAGS.nll_chunk,
      aux_prior=FLAGS.aux_prior, max_examples=FLAGS.max_examples,
      information=FLAGS.info, info_negatives=FLAGS.info_negatives,
      info_examples=FLAGS.info_examples or None, info_means=FLAGS.info_means,
      probe=probe, probe_examples=_probe_examples(), probe_method=FLAGS.probe_method,
      untrained_baseline=FLAGS.untrained_baseline,
      recon_examples=FLAGS.recon_examples, recon_train=FLAGS.recon_train, tsne=FLAGS.tsne,
      tsne_dir=FLAGS.tsne_dir, seed=FLAGS.seed)
  ev.evaluate(FLAGS.splits, options)
  return 0


_main = TOOL.guarded(run)
main = TOOL.console_script(_main)


if __name__ == '__main__':
  main()
