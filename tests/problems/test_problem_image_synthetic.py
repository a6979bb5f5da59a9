"""Embedded synthetic image problems: determinism, shapes, labels, visible factors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.problems import image_synthetic

from problem_checks import check_against_spec


SMALL = dict(num_train=256, num_eval=64, num_test=64)


@pytest.mark.parametrize('cls', [image_synthetic.ImageSynthetic,
                                 image_synthetic.ImageShapes,
                                 image_synthetic.ImageSyntheticGrey,
                                 image_synthetic.ImageShapesLit])
def test_image_synthetic_shapes_determinism_labels(cls):
  a, b = cls(**SMALL), cls(**SMALL)
  for split in ('train', 'eval', 'test'):
    check_against_spec(a, split)
    for key in a.label_keys:
      values = a.arrays(split)[key]
      assert values.min() >= 0 and values.max() < len(a.factor_names[key])
    for key, value in a.arrays(split).items():
      np.testing.assert_array_equal(value, b.arrays(split)[key])
  assert not np.array_equal(a.arrays('train')['image'][:64], a.arrays('test')['image'])
  other = cls(seed=1, **SMALL)
  assert not np.array_equal(a.arrays('train')['image'], other.arrays('train')['image'])
  units = a.units_per_example({'image': tf.constant(a.arrays('eval')['image'][:5])})
  np.testing.assert_allclose(units.numpy(), [np.prod(a.image_shape)] * 5)
  a.validate()
  assert a.unit == 'bits/dim'


def test_image_synthetic_default_shapes():
  assert image_synthetic.ImageSynthetic().image_shape == (16, 16, 3)
  assert image_synthetic.ImageSyntheticGrey().image_shape == (8, 8, 1)
  assert image_synthetic.ImageSynthetic(image_size=24, **SMALL).arrays(
      'eval')['image'].shape == (64, 24, 24, 3)
  assert image_synthetic.ImageSyntheticGrey(image_size=16, **SMALL).arrays(
      'eval')['image'].shape == (64, 16, 16, 1)


def test_image_shapes_factors_visible():
  p = image_synthetic.ImageShapes(num_train=2048, num_eval=8, num_test=8)
  a = p.arrays('train')
  image = a['image'].astype(np.float32)
  # Colour: the brightest pixels' mean RGB separates the hues.
  bright = image.max(axis=-1) > 150
  means = np.stack([(image[a['colour'] == c] * bright[a['colour'] == c][..., None]).sum(
      (0, 1, 2)) / bright[a['colour'] == c].sum() for c in range(6)])
  for i in range(6):
    for j in range(i + 1, 6):
      assert np.abs(means[i] - means[j]).max() > 60, (i, j, means)
  # Position: the foreground lies in the labelled quadrant.
  fg = image.max(axis=-1) > 150
  half = p.image_size // 2
  quadrant = np.stack([fg[:, :half, :half].sum((1, 2)), fg[:, :half, half:].sum((1, 2)),
                       fg[:, half:, :half].sum((1, 2)), fg[:, half:, half:].sum((1, 2))],
                      axis=1)
  assert np.mean(quadrant.argmax(1) == a['position']) > 0.99
  # Size: large shapes cover more pixels; shape: squares cover more than crosses.
  area = fg.sum((1, 2))
  assert area[a['size'] == 1].mean() > 1.5 * area[a['size'] == 0].mean()
  assert area[a['shape'] == 1].mean() > area[a['shape'] == 3].mean()
  # Local texture: background pixels vary (an AR decoder has something to model).
  assert image[~fg].std() > 5


def test_lit_images_are_image_shapes_under_a_global_tint():
  lit = image_synthetic.ImageShapesLit(**SMALL)
  plain = image_synthetic.ImageShapes(**SMALL)
  a, b = lit.arrays('train'), plain.arrays('train')
  for key in plain.label_keys:
    np.testing.assert_array_equal(a[key], b[key])
  # The image-wide mean shift recovers the light: nearest tint is the label.
  shift = (a['image'].astype(np.float32) - b['image']).mean(axis=(1, 2))      # [N, 3]
  tints = 0.04 * 255.0 * image_synthetic._LIGHT_RGB                           # [8, 3]
  nearest = np.argmin(((shift[:, None] - tints[None]) ** 2).sum(-1), axis=1)
  assert np.mean(nearest == a['light']) > 0.95
  assert sorted(np.unique(a['light'])) == list(range(8))
  # Exact entropy of uniform independent factors: log2(4 * 6 * 4 * 2 * 8).
  assert lit.factor_entropy_bits() == pytest.approx(math.log2(1536))
  assert plain.factor_entropy_bits() == pytest.approx(math.log2(192))
  with pytest.raises(UserError, match='light_strength'):
    image_synthetic.ImageShapesLit(light_strength=2.0).validate()


def test_image_synthetic_band_is_faint_per_pixel_but_clear_per_image():
  p = image_synthetic.ImageSynthetic(num_train=2048, num_eval=8, num_test=8)
  a = p.arrays('train')
  image = a['image'].astype(np.float32) / 255.0
  # Position: the brightest row (pooled over 48 sub-pixels) is nearest the band centre.
  brightest = image.mean(axis=(2, 3)).argmax(axis=1) + 0.5
  nearest = np.abs(brightest[:, None] - p.band_centres()[None]).argmin(axis=1)
  assert np.mean(nearest == a['position']) > 0.95
  # Colour: the mean RGB of the band's rows, less its grey level, points to its lamp.
  rows = np.rint(p.band_centres()[a['position']] - 0.5).astype(int)
  band_rgb = image[np.arange(len(image)), rows].mean(axis=1)                # [N, 3]
  tint = band_rgb - band_rgb.mean(axis=1, keepdims=True)
  lamps = 0.5 + 0.5 * image_synthetic._LIGHT_RGB
  lamp_tints = lamps - lamps.mean(axis=1, keepdims=True)
  assert np.mean((tint @ lamp_tints.T).argmax(axis=1) == a['colour']) > 0.9
  # One sub-pixel alone says little: at the band's centre the lamp adds about one to
  # two grain deviations on average.
  centre = image[np.arange(len(image)), rows] - p.base_level                # [N, s, 3]
  assert 0.5 < centre.mean() / p.noise < 3.0
  # Uniform labels and the exact factor entropy log2(8 * 8).
  assert sorted(np.unique(a['colour'])) == list(range(8))
  assert sorted(np.unique(a['position'])) == list(range(8))
  assert p.factor_entropy_bits() == pytest.approx(6.0)
  for bad in (dict(amplitude=1.5), dict(noise=-0.1), dict(band_width=0.0)):
    with pytest.raises(UserError, match=next(iter(bad))):
      image_synthetic.ImageSynthetic(**bad).validate()


def test_image_synthetic_number_of_band_heights():
  p = image_synthetic.ImageSynthetic(num_positions=4, **SMALL)
  np.testing.assert_allclose(p.band_centres(), [2.0, 6.0, 10.0, 14.0])
  assert p.factor_entropy_bits() == pytest.approx(5.0)              # log2(8 * 4)
  assert len(p.factor_names['position']) == 4
  assert sorted(np.unique(p.arrays('train')['position'])) == [0, 1, 2, 3]
  # The default keeps its 8 heights 2 pixels apart.
  np.testing.assert_allclose(image_synthetic.ImageSynthetic().band_centres(),
                             np.arange(8) * 2.0 + 1.0)
  for bad in (1, 17):
    with pytest.raises(UserError, match='num_positions must be in'):
      image_synthetic.ImageSynthetic(num_positions=bad).validate()


def test_image_synthetic_grey_factors_visible():
  p = image_synthetic.ImageSyntheticGrey(num_train=2048, num_eval=8, num_test=8)
  a = p.arrays('train')
  image = a['image'][..., 0].astype(np.float32)
  levels = [image[a['intensity'] == k].max((1, 2)).mean() for k in range(3)]
  assert levels[0] < levels[1] < levels[2]
  ink = image > 90
  ones = ink[a['digit'] == 1].sum((1, 2)).mean()
  eights = ink[a['digit'] == 8].sum((1, 2)).mean()
  assert eights > ones


def test_image_synthetic_bad_args():
  with pytest.raises(UserError, match='image_size'):
    image_synthetic.ImageSynthetic(image_size=4).validate()
  with pytest.raises(UserError, match='num_eval'):
    image_synthetic.ImageSynthetic(num_eval=0).arrays('train')
  with pytest.raises(UserError, match='unknown split'):
    image_synthetic.ImageSynthetic(**SMALL).arrays('valid')
