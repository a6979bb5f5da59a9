"""Linear probes and t-SNE of posterior means.

How much of a label (a ground-truth factor of an embedded problem, a class) is linearly
decodable from the representation: posterior means of the train split, flattened,
standardised, and a multinomial logistic regression fitted on them; its accuracy on an
evaluation split is compared with the majority-class baseline (the accuracy of always
predicting the most frequent train label).
"""

import math

import numpy as np
import tensorflow as tf

from t2t_delta.train import inputs


def posterior_means(model, problem, split, batch_size, max_examples=None):
  """`(means [N, F] float32, labels {key: [N] int})` for a split (first N examples)."""
  mean_fn = tf.function(model.posterior_mean, reduce_retracing=True)
  dataset = inputs.eval_dataset(problem, split, batch_size)
  if max_examples:
    dataset = dataset.take(int(math.ceil(max_examples / batch_size)))
  means, labels = [], {key: [] for key in problem.label_keys}
  for features in dataset:
    keep = features.pop('weight').numpy() > 0
    m = np.asarray(mean_fn(features), np.float32)
    means.append(m.reshape(m.shape[0], -1)[keep])
    for key in labels:
      labels[key].append(np.asarray(features[key])[keep])
  means = np.concatenate(means) if means else np.zeros([0, 0], np.float32)
  labels = {k: np.concatenate(v) for k, v in labels.items() if v}
  if max_examples:
    means = means[:max_examples]
    labels = {k: v[:max_examples] for k, v in labels.items()}
  return means, labels


def majority_accuracy(train_labels, test_labels):
  """Accuracy of always predicting the most frequent train label."""
  values, counts = np.unique(train_labels, return_counts=True)
  return float(np.mean(np.asarray(test_labels) == values[np.argmax(counts)]))


def fit_probe(train_x, train_y, max_iter=1000, regularization=1.0, seed=0):
  """Standardise + multinomial logistic regression (scikit-learn pipeline)."""
  from sklearn.linear_model import LogisticRegression  # pylint: disable=g-import-not-at-top
  from sklearn.pipeline import make_pipeline  # pylint: disable=g-import-not-at-top
  from sklearn.preprocessing import StandardScaler  # pylint: disable=g-import-not-at-top
  probe = make_pipeline(StandardScaler(),
                        LogisticRegression(C=regularization, max_iter=max_iter,
                                           random_state=seed))
  return probe.fit(np.asarray(train_x, np.float64), np.asarray(train_y))


def linear_probe(train_x, train_y, test_x, test_y, **kwargs):
  """`{'accuracy', 'majority', 'train_accuracy'}` of a linear probe."""
  train_y, test_y = np.asarray(train_y), np.asarray(test_y)
  if len(np.unique(train_y)) < 2:
    accuracy = majority_accuracy(train_y, test_y)
    return {'accuracy': accuracy, 'majority': accuracy, 'train_accuracy': 1.0}
  probe = fit_probe(train_x, train_y, **kwargs)
  return {'accuracy': float(probe.score(np.asarray(test_x, np.float64), test_y)),
          'majority': majority_accuracy(train_y, test_y),
          'train_accuracy': float(probe.score(np.asarray(train_x, np.float64), train_y))}


def probe_all_labels(train_x, train_labels, test_x, test_labels, **kwargs):
  """`{label: linear_probe(...)}` for every label key present in both splits."""
  return {key: linear_probe(train_x, train_labels[key], test_x, test_labels[key],
                            **kwargs)
          for key in train_labels if key in test_labels}


def tsne_png(means, labels, path, label_name='label', title=None, seed=0,
             max_points=2000):
  """t-SNE of `means` `[N, F]` coloured by `labels` `[N]`, saved as a PNG at `path`."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
  means = np.asarray(means, np.float64)[:max_points]
  n = len(means)
  if n < 5:
    raise ValueError(f't-SNE needs at least 5 points, got {n}.')
  std = means.std(axis=0)
  means = (means - means.mean(axis=0)) / np.where(std > 0, std, 1.0)
  from threadpoolctl import threadpool_limits  # pylint: disable=g-import-not-at-top
  # t-SNE's OpenMP threads slow it down by an order of magnitude on a busy machine.
  with threadpool_limits(limits=1):
    embedded = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3.0), init='pca',
                    random_state=seed).fit_transform(means)
  fig, ax = plt.subplots(figsize=(6, 5))
  if labels is not None:
    labels = np.asarray(labels)[:n]
    scatter = ax.scatter(embedded[:, 0], embedded[:, 1], c=labels, cmap='tab10', s=6)
    legend = ax.legend(*scatter.legend_elements(), title=label_name, loc='best',
                       fontsize='small')
    ax.add_artist(legend)
  else:
    ax.scatter(embedded[:, 0], embedded[:, 1], s=6)
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title or f't-SNE of posterior means ({label_name})')
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
