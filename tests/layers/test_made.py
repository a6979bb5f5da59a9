"""MADE: autoregressive in its ordering, context reaches every output."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.layers import made


def _jacobian_support(fn, d):
  x = tf.random.stateless_normal([1, d], [0, 1])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = fn(x)
  jac = tape.batch_jacobian(y, x).numpy()[0]        # [d, P, d] or [d, d]
  return np.abs(jac).reshape(d, -1, d).max(axis=1) > 0


@pytest.mark.parametrize('ordering', ['left_to_right', 'right_to_left', [2, 0, 3, 1]])
def test_made_is_autoregressive_in_its_ordering(ordering):
  d = 4
  net = made.MADE(d, (16, 16), 2, ordering=ordering, output_init_scale=1.0)
  support = _jacobian_support(net, d)
  degrees = made.ordering_degrees(d, ordering)
  allowed = degrees[None, :] < degrees[:, None]     # output i may see input j
  assert not np.any(support & ~allowed)
  # The masks are not over-restrictive: the last output sees every earlier input.
  last = int(np.argmax(degrees))
  assert np.all(support[last][allowed[last]])


def test_made_context_reaches_every_output():
  net = made.MADE(3, (8,), 2, context_size=5, output_init_scale=1.0)
  context = tf.random.normal([2, 5])
  with tf.GradientTape() as tape:
    tape.watch(context)
    first = net(tf.zeros([2, 3]), context)[:, 0]
  assert np.all(np.abs(tape.gradient(first, context).numpy()) > 0)
  with pytest.raises(ValueError, match='context'):
    net(tf.zeros([2, 3]))
