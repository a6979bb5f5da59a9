"""Linear probes and t-SNE of latent representations.

How much of a label (a ground-truth factor of an embedded problem, a class) is linearly
decodable from a representation (posterior means, or posterior samples, which is what
the decoder receives), flattened: a multinomial logistic regression fitted on the train
split; its accuracy on an evaluation split is compared with the majority-class baseline
(the accuracy of always predicting the most frequent train label). Two fitting
protocols:

* 'sklearn': features standardised, scikit-learn's L-BFGS logistic regression (C = 1);
* 'paper': the δ-VAE paper's appendix F, unstandardised features, softmax regression
  trained with Adam for 100 epochs, learning rate 0.003 decayed by 0.3 every 30
  epochs (minibatches of 128, which the paper does not state).

A probe alone is no evidence of latent use: standardised means of an untrained
encoder separate simple factors almost perfectly. The evaluator reports every probe
beside the same probe on the model at its initial weights.
"""

import numpy as np


def majority_accuracy(train_labels, test_labels):
  """Accuracy of always predicting the most frequent train label."""
  values, counts = np.unique(train_labels, return_counts=True)
  return float(np.mean(np.asarray(test_labels) == values[np.argmax(counts)]))


PROBE_METHODS = ('sklearn', 'paper')


class SoftmaxRegression:
  """Multinomial logistic regression trained with Adam (the paper's probe protocol).

  Args:
    epochs: passes over the training set (100).
    learning_rate: Adam's initial learning rate (0.003).
    decay, decay_every: the learning rate is multiplied by `decay` every
      `decay_every` epochs (0.3, 30).
    batch_size: examples per Adam step.
    seed: initialisation and shuffling.
  """

  def __init__(self, epochs=100, learning_rate=0.003, decay=0.3, decay_every=30,
               batch_size=128, seed=0):
    self.epochs, self.learning_rate = int(epochs), float(learning_rate)
    self.decay, self.decay_every = float(decay), int(decay_every)
    self.batch_size, self.seed = int(batch_size), int(seed)

  def fit(self, x, y):
    x = np.asarray(x, np.float64)
    self.classes_, y = np.unique(np.asarray(y), return_inverse=True)
    n, dim = x.shape
    k = len(self.classes_)
    rng = np.random.default_rng(self.seed)
    params = [np.zeros([dim, k]), np.zeros([k])]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    for epoch in range(self.epochs):
      lr = self.learning_rate * self.decay ** (epoch // self.decay_every)
      order = rng.permutation(n)
      for start in range(0, n, self.batch_size):
        rows = order[start:start + self.batch_size]
        probs = self._softmax(x[rows] @ params[0] + params[1])
        probs[np.arange(len(rows)), y[rows]] -= 1.0
        grads = [x[rows].T @ probs / len(rows), probs.mean(axis=0)]
        step += 1
        for p, g, m in zip(params, grads, moments):
          m[0] = beta1 * m[0] + (1 - beta1) * g
          m[1] = beta2 * m[1] + (1 - beta2) * g * g
          p -= lr * (m[0] / (1 - beta1 ** step)) / (
              np.sqrt(m[1] / (1 - beta2 ** step)) + eps)
    self.coef_, self.intercept_ = params
    return self

  @staticmethod
  def _softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)

  def predict(self, x):
    logits = np.asarray(x, np.float64) @ self.coef_ + self.intercept_
    return self.classes_[np.argmax(logits, axis=1)]

  def score(self, x, y):
    return float(np.mean(self.predict(x) == np.asarray(y)))


def fit_probe(train_x, train_y, max_iter=1000, regularization=1.0, seed=0,
              method='sklearn'):
  """A fitted probe with `.score(x, y)`: see the module docstring for `method`."""
  if method == 'paper':
    return SoftmaxRegression(seed=seed).fit(train_x, train_y)
  if method != 'sklearn':
    raise ValueError(f'probe method must be one of {PROBE_METHODS}, got {method!r}.')
  return _fit_sklearn(train_x, train_y, max_iter, regularization, seed)


def _fit_sklearn(train_x, train_y, max_iter=1000, regularization=1.0, seed=0):
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
