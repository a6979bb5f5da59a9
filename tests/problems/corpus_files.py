"""Small text corpora written to files, for the vocabulary and text_lines tests."""

import numpy as np

WORDS = ('the cat dog bird sat ran flew on under over a mat log tree quickly slowly '
         'big small red blue green happy sad').split()


def corpus(n, seed):
  rng = np.random.default_rng(seed)
  return [' '.join(rng.choice(WORDS, rng.integers(3, 12))) for _ in range(n)]


def write_lines(path, lines):
  path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
