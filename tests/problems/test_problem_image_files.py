"""image_files: npz and folder layouts, labels, grey images, and every data error."""

import os

import numpy as np
import pytest
from PIL import Image

from t2t_delta.errors import UserError
from t2t_delta.problems.image_files import ImageFiles


def _images(n, h=6, w=5, c=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _save_png(path, array, mode=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  Image.fromarray(array, mode=mode).save(path)


def _check(problem, n_train, n_test, shape, labels):
  problem.validate()
  assert problem.image_shape == shape
  assert problem.num_examples('train') == n_train
  assert problem.num_examples('test') == n_test
  assert problem.label_keys == (('label',) if labels else ())
  spec = problem.feature_spec()
  for split in ('train', 'eval', 'test'):
    arrays = problem.arrays(split)
    assert set(arrays) == set(spec)
    for key, s in spec.items():
      assert arrays[key].dtype == s.dtype.as_numpy_dtype
      assert arrays[key].shape[1:] == tuple(s.shape)
  example = next(iter(problem.examples('train')))
  assert example['image'].shape == shape


def test_npz_layout(tmp_path):
  train, test = _images(10), _images(4, seed=1)
  np.savez(tmp_path / 'train.npz', image=train, label=np.arange(10) % 3)
  np.savez(tmp_path / 'test.npz', image=test, label=np.array([0, 1, 2, 2], np.int64))
  p = ImageFiles(data_dir=str(tmp_path))
  _check(p, 10, 4, (6, 5, 3), labels=True)
  np.testing.assert_array_equal(p.arrays('train')['image'], train)
  np.testing.assert_array_equal(p.arrays('eval')['image'], test)   # eval = test
  assert p.arrays('train')['label'].dtype == np.int32


def test_npz_with_eval_and_grey_without_labels(tmp_path):
  np.savez(tmp_path / 'train.npz', image=_images(8, c=1))
  np.savez(tmp_path / 'test.npz', image=_images(3, c=1))
  np.savez(tmp_path / 'eval.npz', image=_images(2, c=1, seed=5))
  p = ImageFiles(data_dir=tmp_path)
  _check(p, 8, 3, (6, 5, 1), labels=False)
  assert p.num_examples('eval') == 2


def test_png_folder_flat(tmp_path):
  train = _images(5)
  for i, image in enumerate(train):
    _save_png(str(tmp_path / 'train' / f'{i}.png'), image)
  for i, image in enumerate(_images(2, seed=1)):
    Image.fromarray(image).save(_mk(tmp_path / 'test') / f'{i}.png')
  p = ImageFiles(data_dir=str(tmp_path))
  _check(p, 5, 2, (6, 5, 3), labels=False)
  np.testing.assert_array_equal(p.arrays('train')['image'], train)   # sorted by name


def _mk(path):
  os.makedirs(path, exist_ok=True)
  return path


def test_folder_class_subfolders_and_jpeg(tmp_path):
  for split, n in (('train', 2), ('test', 1)):
    for k, cls in enumerate(('dog', 'cat', 'bird')):
      for i in range(n):
        _save_png(str(tmp_path / split / cls / f'{i}.png'), _images(1, seed=k)[0])
  Image.fromarray(_images(1)[0]).save(_mk(tmp_path / 'test' / 'cat') / 'x.jpg',
                                      quality=95)
  p = ImageFiles(data_dir=str(tmp_path))
  _check(p, 6, 4, (6, 5, 3), labels=True)
  assert p.class_names == ('bird', 'cat', 'dog')
  np.testing.assert_array_equal(p.arrays('train')['label'], [0, 0, 1, 1, 2, 2])
  np.testing.assert_array_equal(p.arrays('test')['label'], [0, 1, 1, 2])


def test_grey_pngs_give_one_channel_and_rgba_drops_alpha(tmp_path):
  grey = _images(3, c=1)
  for i, image in enumerate(grey):
    _save_png(str(tmp_path / 'train' / f'{i}.png'), image)
  _save_png(str(tmp_path / 'test' / 'a.png'), grey[0])
  p = ImageFiles(data_dir=str(tmp_path))
  _check(p, 3, 1, (6, 5, 1), labels=False)
  np.testing.assert_array_equal(p.arrays('train')['image'], grey)

  other = tmp_path / 'rgba'
  rgba = _images(2, c=4)
  for i, image in enumerate(rgba):
    _save_png(str(other / 'train' / f'{i}.png'), image)
  _save_png(str(other / 'test' / '0.png'), rgba[0][..., :3])
  _save_png(str(other / 'test' / '1.png'), grey[0][:, :, 0], mode='L')   # promoted
  p = ImageFiles(data_dir=str(other))
  _check(p, 2, 2, (6, 5, 3), labels=False)
  np.testing.assert_array_equal(p.arrays('train')['image'], rgba[..., :3])
  np.testing.assert_array_equal(p.arrays('test')['image'][1], np.repeat(grey[0], 3, 2))


# ---- errors ----------------------------------------------------------------------------
def _npz(path, **arrays):
  np.savez(path, **arrays)


def _setup_missing_dir(root):
  return str(root / 'nope'), 'does not exist'


def _setup_empty(root):
  return str(root), 'is empty'


def _setup_no_layout(root):
  (root / 'readme.txt').write_text('hi')
  return str(root), 'no train.npz or train/'


def _setup_no_test(root):
  _npz(root / 'train.npz', image=_images(2))
  return str(root), 'no test.npz or test/'


def _setup_corrupt_png(root):
  _save_png(str(root / 'train' / 'good.png'), _images(1)[0])
  (root / 'train' / 'bad.png').write_bytes(b'not really a png')
  _save_png(str(root / 'test' / 'good.png'), _images(1)[0])
  return str(root), 'bad.png'


def _setup_corrupt_npz(root):
  (root / 'train.npz').write_bytes(b'garbage')
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'cannot read'


def _setup_not_4d(root):
  _npz(root / 'train.npz', image=_images(2)[..., 0])
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'image[..., None]'


def _setup_channels(root):
  _npz(root / 'train.npz', image=_images(2, c=4))
  _npz(root / 'test.npz', image=_images(2))
  return str(root), '4 channels'


def _setup_channels_first(root):
  _npz(root / 'train.npz', image=_images(2, h=3, w=8, c=8))
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'transpose'


def _setup_float(root):
  _npz(root / 'train.npz', image=_images(2).astype(np.float32) / 255)
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'astype(np.uint8)'


def _setup_no_image_key(root):
  _npz(root / 'train.npz', x=_images(2))
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'no array "image"'


def _setup_mixed_sizes(root):
  _save_png(str(root / 'train' / 'a.png'), _images(1)[0])
  _save_png(str(root / 'train' / 'b.png'), _images(1, h=7)[0])
  _save_png(str(root / 'test' / 'a.png'), _images(1)[0])
  return str(root), 'a.png is 5x6 but'


def _setup_train_test_shapes(root):
  _npz(root / 'train.npz', image=_images(2))
  _npz(root / 'test.npz', image=_images(2, h=8))
  return str(root), 'test images [8, 5, 3]'


def _setup_train_test_channels(root):
  _npz(root / 'train.npz', image=_images(2))
  _npz(root / 'test.npz', image=_images(2, c=1))
  return str(root), 'train images have shape'


def _setup_label_length(root):
  _npz(root / 'train.npz', image=_images(3), label=np.array([0, 1]))
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'one integer label per image'


def _setup_label_dtype(root):
  _npz(root / 'train.npz', image=_images(2), label=np.array([0.5, 1.0]))
  _npz(root / 'test.npz', image=_images(2), label=np.array([0, 1]))
  return str(root), 'astype(np.int32)'


def _setup_labels_one_side(root):
  _npz(root / 'train.npz', image=_images(2), label=np.array([0, 1]))
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'has labels but'


def _setup_both_layouts(root):
  _npz(root / 'train.npz', image=_images(2))
  _save_png(str(root / 'train' / 'a.png'), _images(1)[0])
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'keep only one'


def _setup_empty_folder(root):
  os.makedirs(root / 'train')
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'contains no image files'


def _setup_unknown_class(root):
  _save_png(str(root / 'train' / 'cat' / 'a.png'), _images(1)[0])
  _save_png(str(root / 'test' / 'dog' / 'a.png'), _images(1)[0])
  return str(root), 'train/ does not have'


def _setup_sixteen_bit(root):
  os.makedirs(root / 'train')
  Image.fromarray(np.full((6, 5), 1000, np.uint16)).save(root / 'train' / 'deep.png')
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'deep.png'


def _setup_loose_and_classes(root):
  _save_png(str(root / 'train' / 'cat' / 'a.png'), _images(1)[0])
  _save_png(str(root / 'train' / 'loose.png'), _images(1)[0])
  _npz(root / 'test.npz', image=_images(2))
  return str(root), 'class subfolder'


ERROR_CASES = [v for k, v in sorted(globals().items()) if k.startswith('_setup_')]


def test_no_data_dir():
  with pytest.raises(UserError) as info:
    ImageFiles().validate()
  assert '--data_dir' in str(info.value) and '\n' not in str(info.value)


@pytest.mark.parametrize('setup', ERROR_CASES, ids=lambda f: f.__name__[len('_setup_'):])
def test_data_errors(tmp_path, setup):
  data_dir, expected = setup(tmp_path)
  with pytest.raises(UserError) as info:
    ImageFiles(data_dir=data_dir).validate()
  message = str(info.value)
  assert '\n' not in message
  assert message.startswith('image_files: ')
  assert expected in message, message
