"""examples/posterior_collapse.py: the verdict on one seed's three runs, and --seeds."""

import argparse

import pytest

import example_scripts


class _Problem:
  """5 bits of factors on 16x16x3 images, no decodings classified."""
  image_shape = (16, 16, 3)
  label_keys = ()

  def factor_entropy_bits(self):
    return 5.0


def _record(rate, swap_gain, contrastive, nelbo, committed_bits=33.76):
  return {'rate_bits_per_example': rate, 'mi_bits': min(rate, 9.0),
          'swap_gain_bits': swap_gain, 'swap_gain_stderr_bits': 0.02,
          'contrastive_bits': contrastive, 'contrastive_stderr_bits': 0.02,
          'contrastive_max_bits': 7.0, 'contrastive_negatives': 127,
          'mi_max_bits': 9.0, 'mi_examples': 512, 'nelbo': nelbo,
          'committed_rate': committed_bits / 768}


def _records(delta_gain=311.4, delta_contrastive=6.6, delta_nelbo=6.031,
             vae_rate=0.0, vae_gain=0.03, ar_nelbo=5.998):
  return {'delta_vae': _record(39.7, delta_gain, delta_contrastive, delta_nelbo),
          'standard_normal_vae': _record(vae_rate, vae_gain, -0.05, 5.996, 0.0),
          'ar_image': {'nelbo': ar_nelbo}}


def _judge(records):
  module = example_scripts.load('posterior_collapse')
  args = argparse.Namespace(problem='image_synthetic')
  return module.judge(0, records, _Problem(), args)


def test_the_contrast_holds_for_an_informative_delta_vae_and_a_collapsed_vae():
  assert _judge(_records())


@pytest.mark.parametrize('change', [
    {'vae_gain': 0.103},              # seed 1 in batches of 16: on the 0.1-bit line
    {'vae_gain': -0.2},               # a gain far below 0 is a decoder that reads z too
    {'vae_rate': 0.4},                # above 1% of δ = 33.76 bits
    {'delta_gain': 3.9},              # below max(4, 5 / 2) bits
    {'delta_contrastive': 2.4},
    {'delta_nelbo': 6.06},            # 1.03% above ar_image
])
def test_the_contrast_fails_when_one_half_fails(change):
  assert not _judge(_records(**change))


def test_seeds_parse_as_a_comma_separated_list():
  module = example_scripts.load('posterior_collapse')
  assert module.seed_list('0,1, 2') == [0, 1, 2]
  for text in ('', 'a', '0;1'):
    with pytest.raises(argparse.ArgumentTypeError, match='--seeds'):
      module.seed_list(text)
