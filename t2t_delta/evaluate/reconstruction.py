"""Do decodings of an image's latent keep the image's factors? (labelled image problems)

The paper's qualitative claim (§4.2): decodings of one z share its global structure
while the decoder fills in local detail. Measured here with classifiers of the
problem's labels:

1. For every label, a classifier of that label from pixels (standardised multinomial
   logistic regression on the pixels scaled to [0, 1], `probe.fit_probe`) is fitted on
   the first `num_train` images of the train split. Its accuracy on the evaluated
   split's real images is the ceiling (`recon_<label>_classifier_accuracy`).
2. Each of the first N images of the split is encoded (one posterior sample) and its
   latent decoded by the model's sampler (temperature 1). The classifier's label for
   the decoding is compared with the source image's true label:
   `recon_<label>_agreement`.
3. Baseline, with the same decoder and seeds: each decoding from the latent of *another*
   image (the latents shifted by one), compared with the source's label:
   `recon_<label>_agreement_other_z`. A latent that carries the factor scores the
   ceiling on 2 and about chance on 3; a decoder that ignores z scores the same on both.

A factor that the classifier cannot read from real pixels (ceiling near the majority
class) says nothing here; the ceiling is reported beside every agreement for that reason.
"""

import numpy as np

from t2t_delta.decode import image_modes
from t2t_delta.errors import UserError
from t2t_delta.evaluate import probe as probe_lib

_POSTERIOR_SEED = 11
_DECODE_OWN, _DECODE_OTHER = 12, 13


def pixel_features(images):
  """float64 `[N, H * W * C]` in [0, 1] from uint8 images `[N, H, W, C]`."""
  images = np.asarray(images)
  return images.reshape(len(images), -1).astype(np.float64) / 255.0


def fit_classifiers(problem, num_train=4096, seed=0):
  """`{label: fitted classifier}` of every label, from the train split's pixels."""
  if not problem.label_keys:
    raise UserError(f'{problem.registered_name} has no labels: reconstruction agreement '
                    'needs a labelled image problem.')
  train = image_modes.first_examples(problem, 'train', num_train)
  features = pixel_features(train['image'])
  return {label: probe_lib.fit_probe(features, train[label], seed=seed)
          for label in problem.label_keys if label in train}


def agreement(classifiers, images, labels):
  """`{label: fraction of images the classifier assigns labels[label]}`."""
  features = pixel_features(images)
  return {label: float(np.mean(classifier.predict(features) == np.asarray(labels[label])))
          for label, classifier in classifiers.items() if label in labels}


def reconstruction_record(model, problem, split, classifiers, num_examples=256,
                          batch_size=64, seed=0):
  """Agreement of decodings from own and from other images' latents (module docstring)."""
  if not model.has_latents:
    return {}
  examples = image_modes.first_examples(problem, split, num_examples)
  images = examples.get('image')
  if images is None or len(images) < 2:
    raise UserError(f'reconstruction agreement needs at least 2 images in the {split} '
                    'split.')
  options = {'seed': int(seed), 'batch_size': int(batch_size), 'temperature': 1.0}
  z = image_modes.posterior_sample(model, images, options, _POSTERIOR_SEED)
  own = image_modes.decode_any(model, z, options, seed_path=(_DECODE_OWN,))
  other = image_modes.decode_any(model, np.roll(z, 1, axis=0), options,
                                 seed_path=(_DECODE_OTHER,))
  record = {'recon_examples': int(len(images))}
  for key, values in (('_classifier_accuracy', agreement(classifiers, images, examples)),
                      ('_agreement', agreement(classifiers, own, examples)),
                      ('_agreement_other_z', agreement(classifiers, other, examples))):
    for label, value in values.items():
      record[f'recon_{label}{key}'] = value
  return record


def format_lines(record):
  """Lines: agreement per label beside its other-latent baseline and ceiling."""
  labels = sorted(k[len('recon_'):-len('_agreement')] for k in record
                  if k.startswith('recon_') and k.endswith('_agreement'))
  if not labels:
    return []
  lines = [f"  decodings keep the source's factors (N={record['recon_examples']}; "
           'own z / another image\'s z / classifier on real images):']
  for label in labels:
    lines.append(f"    {label}: {record[f'recon_{label}_agreement']:.3f} / "
                 f"{record[f'recon_{label}_agreement_other_z']:.3f} / "
                 f"{record[f'recon_{label}_classifier_accuracy']:.3f}")
  return lines

