r"""Do the tiny δ-VAEs use their latents on natural images and real sentences?

Builds two small data sets from material that ships with the installed packages, in
the layouts of the user-data problems:

  * `image_files`: 16x16 RGB crops of scikit-learn's two sample photographs
    (`sklearn.datasets.load_sample_images`: a temple in China, a flower), each
    photograph downscaled 4x; train crops come from the left 75% of each photograph,
    test crops from the right 25% (no pixel is in both);
  * `text_lines`: distinct English sentences of 5 to 24 words from Python's own
    documentation (`pydoc_data.topics`, the text behind `help()`) and the docstrings
    of its standard library (read with `ast`, tests and IDLE excluded): 12,313 train
    and 1,369 test sentences (every tenth is a test sentence) on Python 3.11.

then trains the shipped tiny configurations on them (`gin/image_tiny.gin` with
`delta_vae_image`, `gin/text_tiny.gin` with `delta_vae_text`) and evaluates the test
split with `t2t-delta-eval`: mutual information, the decoder's swap gain and the
contrastive bound (bits per example; 0 for a model that ignores its latents).
`--parts=text` (or `images`) runs one of the two.

    python examples/natural_data.py --out=runs/natural
    python examples/natural_data.py --parts=text --out=runs/natural

Measured (2 CPU cores, seed 0; bits per example on the test split, K = 63; a model
that ignores its latents scores 0):

  text, shipped gin/text_tiny.gin (2000 steps, 4 min):
      rate 10.52  MI 3.00  swap gain 22.66 ± 0.41  contrastive 4.44 ± 0.05
      −ELBO 4.5526 nats/token
  text, the former text_tiny.gin (z_t from position t, no token dropout,
  α ∈ [0.5, 0.9]), same data and steps:
      rate 14.23  MI 1.57  swap gain 21.32 ± 0.60  contrastive 3.27 ± 0.04
      −ELBO 4.5623 nats/token
  ar_text with gin/text_tiny.gin (no latents): NLL 4.3845 nats/token (the δ-VAE is
  3.8% above it)
  images, shipped gin/image_tiny.gin (6000 steps of 8 images, cosine from 3e-3;
      its image_synthetic binding does not apply here): rate 37.99  MI 6.15
      swap gain 277.9 ± 6.9  contrastive −38.2 ± 1.9  −ELBO 3.2430 bits/dim
  images, the same in batches of 16: rate 38.17  MI 6.22  swap gain 220.2 ± 9.2
      contrastive −33.6 ± 1.7  −ELBO 3.2259 bits/dim
  images, the same over 4500 steps (batches of 16): rate 39.15  MI 6.00
      swap gain 241.9 ± 8.6  contrastive −31.5 ± 1.6  −ELBO 3.2256 bits/dim
  images, the file before (3000 steps, cosine from 2e-3): rate 43.8  MI 6.63
      swap gain 529.4 ± 9.0  contrastive −61.0  −ELBO 3.3929 bits/dim
  images, the file with its former constant learning rate 1e-3 and AR(1)
      range [0.8, 0.99]: rate 37.6  MI 6.01  swap gain 174.6 ± 5.2
      contrastive −90.2  −ELBO 4.0675 bits/dim
  images, the former image config (paper's conditioning, 500 steps): rate 22.8
      MI 0.11  swap gain −0.91 ± 0.83  contrastive −41.8  −ELBO 4.3561 bits/dim;
      ar_image (same decoder, 500 steps): 4.5392 bits/dim (not re-measured at 3000)

On real sentences both text configurations' decoders depend on z (another sentence's
latent costs them 21–23 bits); the shipped one carries more information (MI 3.00
against 1.57 bits, contrastive 4.44 against 3.27). With only the 1,200 sentences of
`pydoc_data.topics` (this script's former data) the text model overfitted and gained
nothing from z (swap gain 0.05 ± 0.05 with the former file). On natural crops the image
decoder depends on z heavily (the crops' overall brightness and colour are a dense
global factor) but the contrastive bound is strongly negative: log p(x | z) varies so
much across samples of a crop's own posterior that another crop's latent often
explains it better than one sample of its own (see examples/README.md, "Levers for
latent use"); the decoder is too sensitive to the posterior's noise.
"""

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import sysconfig

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROP = 16
DOWNSCALE = 4


def image_crops(num_train=8192, num_test=1024, seed=0):
  """`{'train': uint8 [N, 16, 16, 3], 'test': ...}` crops of the sample photographs."""
  from sklearn.datasets import load_sample_images  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  photos = []
  for photo in load_sample_images().images:
    h, w = (s // DOWNSCALE * DOWNSCALE for s in photo.shape[:2])
    small = photo[:h, :w].reshape(h // DOWNSCALE, DOWNSCALE, w // DOWNSCALE,
                                  DOWNSCALE, 3).mean(axis=(1, 3))
    photos.append(np.rint(small).astype(np.uint8))
  out = {}
  for split, count in (('train', num_train), ('test', num_test)):
    crops = []
    for k in range(count):
      photo = photos[k % len(photos)]
      h, w = photo.shape[:2]
      boundary = int(0.75 * w)
      lo, hi = (0, boundary - CROP) if split == 'train' else (boundary, w - CROP)
      top, left = rng.integers(0, h - CROP + 1), rng.integers(lo, hi + 1)
      crops.append(photo[top:top + CROP, left:left + CROP])
    out[split] = np.stack(crops)
  return out


def _sentences_of(text):
  """English sentences of 5 to 24 words (ASCII, starting upper-case) in `text`."""
  sentences = []
  for candidate in re.split(r'(?<=[.!?])\s+', re.sub(r'\s+', ' ', text)):
    words = candidate.split()
    if 5 <= len(words) <= 24 and candidate[0].isupper() and candidate.isascii():
      sentences.append(candidate)
  return sentences


def _standard_library_docstrings():
  """Docstrings of the modules, classes and functions of Python's standard library
  (its own test suites and IDLE excluded), read with `ast` (nothing is imported)."""
  root = sysconfig.get_paths()['stdlib']
  for folder, subfolders, files in os.walk(root):
    subfolders[:] = sorted(d for d in subfolders
                           if d not in ('site-packages', 'test', 'tests', 'idlelib'))
    for name in sorted(files):
      if not name.endswith('.py'):
        continue
      try:
        with open(os.path.join(folder, name), encoding='utf-8') as f:
          tree = ast.parse(f.read())
      except (SyntaxError, UnicodeDecodeError, ValueError):
        continue
      for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)):
          doc = ast.get_docstring(node)
          if doc:
            yield doc


def documentation_sentences():
  """`(train, test)` lists of distinct sentences from Python's documentation topics
  and its standard library's docstrings; every tenth sentence is a test sentence."""
  import pydoc_data.topics  # pylint: disable=g-import-not-at-top
  sentences = _sentences_of(' '.join(pydoc_data.topics.topics.values()))
  for doc in _standard_library_docstrings():
    sentences += _sentences_of(doc)
  sentences = list(dict.fromkeys(sentences))
  test = sentences[::10]
  train = [s for i, s in enumerate(sentences) if i % 10]
  return train, test


def write_data(out, parts):
  """Writes the data of `parts` under `out`; `{part: (data dir, train / test counts)}`."""
  written = {}
  if 'images' in parts:
    images = os.path.join(out, 'images')
    os.makedirs(images, exist_ok=True)
    crops = image_crops()
    for split, split_crops in crops.items():
      np.savez(os.path.join(images, f'{split}.npz'), image=split_crops)
    written['images'] = images, (len(crops['train']), len(crops['test']))
  if 'text' in parts:
    text = os.path.join(out, 'text')
    os.makedirs(text, exist_ok=True)
    train, test = documentation_sentences()
    for split, lines in (('train', train), ('test', test)):
      with open(os.path.join(text, f'{split}.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    written['text'] = text, (len(train), len(test))
  return written


def run(module, args):
  command = [sys.executable, '-m', module] + args
  print('$', ' '.join(command[2:]), flush=True)
  subprocess.run(command, check=True, cwd=REPO)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', default='runs/natural')
  parser.add_argument('--negatives', type=int, default=63)
  parser.add_argument('--parts', default='images,text',
                      help='comma-separated: which of images, text to train and '
                           'evaluate')
  parser.add_argument('--image_gin_param', action='append', default=[],
                      help='extra gin binding of the image run (repeatable)')
  parser.add_argument('--text_gin_param', action='append', default=[],
                      help='extra gin binding of the text run (repeatable)')
  args = parser.parse_args()
  parts = [p for p in args.parts.split(',') if p]
  if not parts or set(parts) - {'images', 'text'}:
    parser.error(f'--parts={args.parts!r}; give images, text or images,text.')
  written = write_data(args.out, parts)
  units = {'images': 'image crops', 'text': 'sentences'}
  print('data: ' + ', '.join(f'{train} / {test} {units[name]}'
                             for name, (_, (train, test)) in written.items())
        + ' (train / test)')
  results = {}
  for name, problem, model, gin_file, params in (
      ('images', 'image_files', 'delta_vae_image', 'gin/image_tiny.gin',
       args.image_gin_param),
      ('text', 'text_lines', 'delta_vae_text', 'gin/text_tiny.gin',
       args.text_gin_param)):
    if name not in written:
      continue
    data = written[name][0]
    run_dir = os.path.join(args.out, f'run_{name}')
    extra = (["--gin_param=train.final_splits=('test',)", '--gin_param=train.eval_every=0']
             + ["--gin_param=train.eval_split='test'"]
             + [f'--gin_param={p}' for p in params])
    run('t2t_delta.train.cli', [f'--problem={problem}', f'--model={model}',
                                f'--gin_file={gin_file}', f'--data_dir={data}',
                                f'--output_dir={run_dir}'] + extra)
    run('t2t_delta.evaluate.cli', [f'--output_dir={run_dir}', '--splits=test',
                                   '--nll_samples=0', f'--info_negatives={args.negatives}'])
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
      results[name] = [json.loads(line) for line in f][-1]
  print('\ntest split, bits per example (a model that ignores its latents scores 0):')
  for name, r in results.items():
    print(f'{name:>7}: rate {r["rate_bits_per_example"]:.2f}  MI {r["mi_bits"]:.2f}  '
          f'swap gain {r["swap_gain_bits"]:.2f} ± {r["swap_gain_stderr_bits"]:.2f}  '
          f'contrastive {r["contrastive_bits"]:.2f} ± {r["contrastive_stderr_bits"]:.2f}'
          f'  -ELBO {r["nelbo"]:.4f} {r["unit"]}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
