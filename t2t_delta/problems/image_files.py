"""User images from a folder: NumPy archives or image files.

`--data_dir` holds, for each split, either

* `<split>.npz` with `image`: uint8 [N, H, W, C], C in {1, 3}, and optionally `label`:
  integer [N]; or
* a folder `<split>/` of PNG/JPEG/BMP/GIF files, either directly inside (no labels) or
  in class subfolders (`<split>/<class>/*.png`), whose sorted names, taken from the train
  split, give the integer labels.

`train` and `test` are required; `eval` is optional and defaults to `test`. All images
must have one size, given by the data. Grey images give C=1; when a folder mixes grey
and colour images, grey ones are converted to RGB. The alpha channel of RGBA/LA images
is dropped (not composited); palette images are converted to RGB. 16-bit and
floating-point images are rejected.

Every problem with the data raises a one-line `UserError` that names the file.
"""

import os
import zipfile

import numpy as np
from PIL import Image

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.problems.base import ImageProblem, existing_dir

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif')
_LAYOUT_HELP = ('put train.npz and test.npz (key "image": uint8 [N,H,W,C]) or folders '
                'train/ and test/ of PNG/JPEG files in it')


@registry.register_problem
class ImageFiles(ImageProblem):
  """Your images: --data_dir with train/test .npz arrays or folders of PNG/JPEG files.

  No gin parameters besides data_dir. Label key `label` when the data has labels
  (`label` arrays or class subfolders), else none. Eval split: eval.npz / eval/ when
  present, else the test split.
  """

  def __init__(self, data_dir=None):
    super().__init__(data_dir=data_dir)
    self._data = None
    self._class_names = None

  # ---- interface -----------------------------------------------------------------------
  @property
  def label_keys(self):
    return ('label',) if 'label' in self._load()['train'] else ()

  @property
  def class_names(self):
    """Class folder names (index = label) for class subfolders, else None."""
    self._load()
    return self._class_names

  @property
  def image_shape(self):
    return tuple(self._load()['train']['image'].shape[1:])

  def arrays(self, split):
    return self._load()[self._check_split(split)]

  def validate(self):
    self._load()
    super().validate()

  # ---- loading -------------------------------------------------------------------------
  def _fail(self, message):
    raise UserError(f'image_files: {message}')

  def _load(self):
    if self._data is not None:
      return self._data
    data_dir = self.data_dir
    if not data_dir:
      self._fail(f'no data directory given; pass --data_dir=DIR and {_LAYOUT_HELP}.')
    data_dir = existing_dir('image_files', os.fspath(data_dir), _LAYOUT_HELP)
    if not os.listdir(data_dir):
      self._fail(f'data directory {data_dir} is empty; {_LAYOUT_HELP}.')

    sources = {split: self._find_split(data_dir, split) for split in ('train', 'test',
                                                                     'eval')}
    for split in ('train', 'test'):
      if sources[split] is None:
        present = ', '.join(sorted(os.listdir(data_dir))[:8])
        self._fail(f'{data_dir} has no {split}.npz or {split}/ folder (found: '
                   f'{present}); {_LAYOUT_HELP}.')

    data = {}
    for split in ('train', 'test', 'eval'):
      kind, path = sources[split] or (None, None)
      if kind == 'npz':
        data[split] = self._load_npz(path)
      elif kind == 'folder':
        data[split] = self._load_folder(path, split)
    if 'eval' not in data:
      data['eval'] = data['test']

    train = data['train']
    for split in ('test', 'eval'):
      if data[split]['image'].shape[1:] != train['image'].shape[1:]:
        self._fail(f'train images have shape {list(train["image"].shape[1:])} but '
                   f'{split} images {list(data[split]["image"].shape[1:])} (H, W, C); '
                   'resize or convert them to one shape.')
      if ('label' in data[split]) != ('label' in train):
        with_labels = 'train' if 'label' in train else split
        without = split if with_labels == 'train' else 'train'
        self._fail(f'the {with_labels} split has labels but the {without} split has '
                   'none; give labels for both or for neither.')
    self._data = data
    return data

  def _find_split(self, data_dir, split):
    npz = os.path.join(data_dir, f'{split}.npz')
    folder = os.path.join(data_dir, split)
    has_npz, has_folder = os.path.isfile(npz), os.path.isdir(folder)
    if has_npz and has_folder:
      self._fail(f'{data_dir} has both {split}.npz and {split}/; keep only one of them.')
    if has_npz:
      return 'npz', npz
    if has_folder:
      return 'folder', folder
    return None

  def _load_npz(self, path):
    try:
      with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        if 'image' not in keys:
          self._fail(f'{path} has no array "image" (keys: {", ".join(keys) or "none"}); '
                     'save it with np.savez(path, image=images, label=labels).')
        image = archive['image']
        label = archive['label'] if 'label' in keys else None
    except UserError:
      raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
      self._fail(f'cannot read {path} ({_one_line(e)}); write it again with '
                 'np.savez(path, image=images, label=labels).')
    self._check_image_array(image, path)
    out = {'image': image}
    if label is not None:
      out['label'] = self._check_labels(label, len(image), path)
    return out

  def _check_image_array(self, image, path):
    if image.ndim == 3 and image.dtype == np.uint8:
      self._fail(f'{path}: "image" has shape {list(image.shape)}, expected 4-D '
                 '[N, H, W, C]; for grey images add a channel axis with '
                 'image[..., None].')
    if image.ndim != 4:
      self._fail(f'{path}: "image" has shape {list(image.shape)}, expected 4-D '
                 '[N, H, W, C] with C = 1 (grey) or 3 (RGB).')
    if image.shape[-1] not in (1, 3):
      hint = (' (drop alpha with image[..., :3])' if image.shape[-1] == 4 else
              ' (channels-first data: use image.transpose(0, 2, 3, 1))'
              if image.shape[1] in (1, 3) else '')
      self._fail(f'{path}: "image" has {image.shape[-1]} channels (shape '
                 f'{list(image.shape)}); expected 1 (grey) or 3 (RGB) in the last '
                 f'axis{hint}.')
    if image.dtype != np.uint8:
      if np.issubdtype(image.dtype, np.floating):
        hint = ('for floats in [0, 1] use np.clip(np.round(image * 255), 0, 255)'
                '.astype(np.uint8)')
      else:
        hint = 'use np.clip(image, 0, 255).astype(np.uint8)'
      self._fail(f'{path}: "image" has dtype {image.dtype}, expected uint8 in [0, 255]; '
                 f'{hint}.')
    if image.shape[1] < 1 or image.shape[2] < 1:
      self._fail(f'{path}: "image" has empty height or width (shape '
                 f'{list(image.shape)}).')

  def _check_labels(self, label, n, path):
    label = np.asarray(label)
    if label.ndim != 1 or len(label) != n:
      self._fail(f'{path}: "label" has shape {list(label.shape)} but there are {n} '
                 f'images; give one integer label per image, shape [{n}].')
    if not (np.issubdtype(label.dtype, np.integer) or label.dtype == np.bool_):
      self._fail(f'{path}: "label" has dtype {label.dtype}, expected integers; '
                 'convert with label.astype(np.int32).')
    if n and (label.min() < 0 or label.max() > np.iinfo(np.int32).max):
      self._fail(f'{path}: labels must be non-negative int32 values, found range '
                 f'[{label.min()}, {label.max()}].')
    return label.astype(np.int32)

  def _load_folder(self, folder, split):
    entries = sorted(os.listdir(folder))
    subdirs = [e for e in entries if os.path.isdir(os.path.join(folder, e))
               and not e.startswith('.')]
    loose = [e for e in entries if _is_image_name(e)]
    if subdirs and loose:
      self._fail(f'{folder} has both image files ({loose[0]}) and class subfolders '
                 f'({subdirs[0]}/); put every image in a class subfolder or none.')
    if subdirs:
      if split == 'train':
        self._class_names = tuple(subdirs)
      class_index = {name: i for i, name in enumerate(self._class_names or ())}
      files, labels = [], []
      for name in subdirs:
        if name not in class_index:
          self._fail(f'{folder}/{name}/ is a class that train/ does not have (train '
                     f'classes: {", ".join(self._class_names or ())}); use the same '
                     'class folders in every split.')
        sub = os.path.join(folder, name)
        names = sorted(e for e in os.listdir(sub) if _is_image_name(e))
        files += [os.path.join(sub, e) for e in names]
        labels += [class_index[name]] * len(names)
    else:
      files = [os.path.join(folder, e) for e in loose]
      labels = None
    if not files:
      self._fail(f'{folder} contains no image files ({", ".join(IMAGE_EXTENSIONS)}); '
                 f'{_LAYOUT_HELP}.')
    images = [self._read_image(path) for path in files]
    first = images[0].shape[:2]
    for path, image in zip(files, images):
      if image.shape[:2] != first:
        self._fail(f'images differ in size: {files[0]} is {first[1]}x{first[0]} but '
                   f'{path} is {image.shape[1]}x{image.shape[0]} (width x height); '
                   'resize them to one size.')
    channels = max(image.shape[2] for image in images)
    if channels == 3:
      images = [np.repeat(i, 3, axis=2) if i.shape[2] == 1 else i for i in images]
    out = {'image': np.stack(images).astype(np.uint8)}
    if labels is not None:
      out['label'] = np.asarray(labels, np.int32)
    return out

  def _read_image(self, path):
    try:
      with Image.open(path) as img:
        img.load()
        mode = img.mode
        if mode == 'P':
          img = img.convert('RGBA' if 'transparency' in img.info else 'RGB')
          mode = img.mode
        if mode in ('1', 'L', 'LA'):
          array = np.asarray(img.convert('L'))[..., None]
        elif mode in ('RGB', 'RGBA', 'CMYK', 'YCbCr', 'LAB', 'HSV', 'RGBX', 'RGBa'):
          array = np.asarray(img.convert('RGB'))
        else:
          self._fail(f'{path} has image mode {mode} (e.g. 16-bit or float); convert it '
                     'to 8-bit grey or RGB.')
    except UserError:
      raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
      self._fail(f'cannot decode image {path} ({_one_line(e)}); replace or delete it.')
    return np.asarray(array, np.uint8)


def _is_image_name(name):
  return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.')


def _one_line(error):
  return ' '.join(str(error).split())[:200]
