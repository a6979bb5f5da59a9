"""TFDS-backed problems (tfds_image): absent data is a one-line UserError; prepared
data loads.

"Prepared" data here is a tiny dataset written in TFDS's on-disk format into a temp dir
(see conftest.py), read through the real builders; nothing is downloaded.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from t2t_delta.errors import UserError
from t2t_delta.problems.lm1b import LanguagemodelLm1b
from t2t_delta.problems.tfds_image import ImageCifar10, ImageImagenet32


def _image_examples(n, seed, with_id=False):
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    example = {'image': rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
               'label': int(i % 10)}
    if with_id:
      example['id'] = f'img{seed}_{i}'
    out.append(example)
  return out


@pytest.mark.parametrize('cls,dataset', [(ImageCifar10, 'cifar10'),
                                         (ImageImagenet32, 'imagenet_resized/32x32'),
                                         (LanguagemodelLm1b, 'lm1b')])
@pytest.mark.parametrize('where', ['empty_dir', 'missing_dir'])
def test_absent_data_is_a_one_line_user_error(tmp_path, cls, dataset, where):
  data_dir = tmp_path if where == 'empty_dir' else tmp_path / 'missing'
  problem = cls(data_dir=str(data_dir))
  with pytest.raises(UserError) as info:
    problem.validate()
  message = str(info.value)
  assert '\n' not in message
  assert problem.registered_name in message
  assert f'tfds build {dataset} --data_dir=DIR' in message
  assert '--data_dir=DIR' in message
  with pytest.raises(UserError):                # lazily, too
    problem.examples('train')
  assert os.listdir(tmp_path) == []             # nothing downloaded or created


def test_cifar10_prepared(tmp_path, write_prepared_tfds):
  train, test = _image_examples(20, 0, True), _image_examples(8, 1, True)
  write_prepared_tfds('cifar10', tmp_path, {'train': train, 'test': test})
  p = ImageCifar10(data_dir=str(tmp_path))
  p.validate()
  assert p.image_shape == (32, 32, 3) and p.label_keys == ('label',)
  assert p.num_examples('train') == 20 and p.num_examples('eval') == 8
  arrays = p.arrays('train')
  np.testing.assert_array_equal(arrays['image'], np.stack([e['image'] for e in train]))
  np.testing.assert_array_equal(arrays['label'], np.arange(20) % 10)
  spec = p.feature_spec()
  assert set(arrays) == set(spec)
  for key, s in spec.items():
    assert arrays[key].dtype == s.dtype.as_numpy_dtype
  np.testing.assert_array_equal(p.arrays('eval')['image'], p.arrays('test')['image'])
  held = ImageCifar10(data_dir=str(tmp_path), eval_holdout=5)
  assert held.num_examples('train') == 15 and held.num_examples('eval') == 5
  np.testing.assert_array_equal(held.arrays('eval')['image'], arrays['image'][15:])
  units = p.units_per_example({'image': tf.constant(arrays['image'][:2])})
  np.testing.assert_allclose(units.numpy(), [3072.0, 3072.0])


def test_imagenet32_prepared_streams(tmp_path, write_prepared_tfds):
  train, valid = _image_examples(12, 0), _image_examples(6, 1)
  write_prepared_tfds('imagenet_resized/32x32', tmp_path,
                      {'train': train, 'validation': valid})
  p = ImageImagenet32(data_dir=str(tmp_path))
  p.validate()
  assert p.arrays('train') is None
  assert p.num_examples('train') == 12 and p.num_examples('test') == 6
  # run.json records which TFDS data (name, version, counts) the run used.
  info = p.data_info()
  assert info['tfds_name'] == 'imagenet_resized/32x32'
  assert info['tfds_version'] == str(p.builder.version) and info['tfds_version']
  assert info['tfds_data_dir'].startswith(str(tmp_path))
  assert info['num_examples'] == {'train': 12, 'eval': 6, 'test': 6}
  ds = p.examples('eval')
  spec = p.feature_spec()
  for key, s in spec.items():
    assert s.is_compatible_with(ds.element_spec[key]), key
    assert ds.element_spec[key].dtype == s.dtype
  got = list(tfds.as_numpy(ds))
  assert len(got) == 6
  np.testing.assert_array_equal(np.stack([g['image'] for g in got]),
                                np.stack([e['image'] for e in valid]))
  np.testing.assert_array_equal([g['label'] for g in got], np.arange(6) % 10)
