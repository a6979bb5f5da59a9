"""Unit conversion of the summed terms into the reported metrics."""

import math

import pytest

from t2t_delta import registry
from t2t_delta.train import metrics


def test_summary_units_images_and_text():
  image = registry.problem('tiny_images')()
  sums = {'count': 2.0, 'units': 2.0 * 192, 'distortion': 300.0, 'rate': 12.0,
          'committed_rate': 4.0}
  record = metrics.summarize(image, sums, step=3, split='test')
  per_dim_bits = lambda nats: nats / (2 * 192) / math.log(2)
  assert record['unit'] == 'bits/dim'
  assert record['distortion'] == pytest.approx(per_dim_bits(300.0))
  assert record['rate'] == pytest.approx(per_dim_bits(12.0))
  assert record['nelbo'] == pytest.approx(record['distortion'] + record['rate'])
  assert record['committed_rate'] == pytest.approx(per_dim_bits(4.0))
  assert record['rate_bits_per_example'] == pytest.approx(6.0 / math.log(2))
  text = registry.problem('tiny_text')()
  record = metrics.summarize(text, {'count': 2.0, 'units': 10.0, 'distortion': 20.0,
                                    'rate': 5.0}, step=1, split='eval')
  assert record['unit'] == 'nats/token'
  assert record['nelbo'] == pytest.approx(2.5)
