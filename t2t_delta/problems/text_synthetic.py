"""Embedded text problem: sentences from a small grammar with hidden global factors.

Every sentence has a hidden `topic` (sports, food, weather, music) that chooses the
nouns, verbs, adjectives and places at several positions across the sentence, and a
`tense` (present, past) that chooses verb forms and time adverbs throughout. Function
words and the sentence frame are shared, so a language model can predict local syntax
from the previous words; the factors are the long-range information a latent can carry.

The vocabulary is fixed in code (a few hundred words): id 0 padding, 1 end of sentence,
2 unknown, then the words in a fixed order. Tokenisation is lower-case words and
punctuation marks; `ids_to_text(text_to_ids(s)) == s` for every generated sentence.
"""

import math
import re

import numpy as np

from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.problems.base import TextProblem

TOPICS = ('sports', 'food', 'weather', 'music')
TENSES = ('present', 'past')
_SPLIT_INDEX = {'train': 0, 'eval': 1, 'test': 2}

# Per topic: subjects (singular agents), objects, adjectives, places, and verbs as
# (present third person, past) pairs.
_TOPIC_WORDS = {
    'sports': dict(
        subjects='player coach striker goalkeeper referee captain runner swimmer boxer '
                 'champion rookie defender'.split(),
        objects='ball match goal race trophy game medal season record penalty '
                'tournament league'.split(),
        adjectives='fast fit strong athletic tired competitive unbeaten '
                   'skilful'.split(),
        places='stadium field track pool gym arena court'.split(),
        verbs=[('kicks', 'kicked'), ('wins', 'won'), ('loses', 'lost'),
               ('scores', 'scored'), ('trains', 'trained'), ('chases', 'chased'),
               ('blocks', 'blocked'), ('defends', 'defended'), ('throws', 'threw'),
               ('catches', 'caught')]),
    'food': dict(
        subjects='chef cook baker waiter farmer butcher diner grandmother student '
                 'host gourmet customer'.split(),
        objects='soup bread cake salad pasta pie stew curry omelette sandwich '
                'dessert sauce'.split(),
        adjectives='delicious spicy sweet salty fresh crispy savoury hot'.split(),
        places='kitchen restaurant bakery market cafe diner canteen'.split(),
        verbs=[('cooks', 'cooked'), ('bakes', 'baked'), ('tastes', 'tasted'),
               ('eats', 'ate'), ('serves', 'served'), ('stirs', 'stirred'),
               ('slices', 'sliced'), ('seasons', 'seasoned'), ('roasts', 'roasted'),
               ('orders', 'ordered')]),
    'weather': dict(
        subjects='forecaster pilot sailor farmer hiker meteorologist shepherd '
                 'lighthouse_keeper fisherman climber gardener ranger'.split(),
        objects='storm cloud rain wind fog snow thunder frost breeze drizzle '
                'hail sunshine'.split(),
        adjectives='cold windy rainy stormy foggy sunny humid icy'.split(),
        places='coast valley mountain harbour sky island plain'.split(),
        verbs=[('predicts', 'predicted'), ('watches', 'watched'),
               ('measures', 'measured'), ('fears', 'feared'), ('reports', 'reported'),
               ('expects', 'expected'), ('tracks', 'tracked'), ('records', 'recorded'),
               ('notices', 'noticed'), ('escapes', 'escaped')]),
    'music': dict(
        subjects='singer drummer pianist guitarist composer conductor violinist '
                 'band choir producer fan critic'.split(),
        objects='song melody album chord rhythm concert symphony tune verse chorus '
                'ballad record'.split(),
        adjectives='loud quiet melodic catchy harmonic acoustic soulful '
                   'rhythmic'.split(),
        places='studio theatre concert_hall club festival opera stage'.split(),
        verbs=[('plays', 'played'), ('sings', 'sang'), ('writes', 'wrote'),
               ('records', 'recorded'), ('performs', 'performed'),
               ('rehearses', 'rehearsed'), ('hums', 'hummed'), ('composes', 'composed'),
               ('tunes', 'tuned'), ('enjoys', 'enjoyed')]),
}
_DETERMINERS = 'the a my our this that every their'.split()
_OBJ_DETERMINERS = 'the a another their one her his'.split()
_GENERAL_ADJECTIVES = 'new old good famous young small big local'.split()
_ADVERBS = 'quickly slowly carefully happily again proudly calmly loudly'.split()
_TIME = {'present': 'today now tonight usually often'.split(),
         'past': 'yesterday earlier once recently before'.split()}
_CONJUNCTIONS = 'and but while because so'.split()
_PREPOSITIONS = 'at in near behind beside'.split()
_PUNCTUATION = ('.', '!')

_TOKEN_RE = re.compile(r"[a-z_']+|[^\sa-z_']")


def topic_words(topic):
  """The words specific to `topic` (a name in TOPICS), in vocabulary order."""
  spec = _TOPIC_WORDS[topic]
  return (spec['subjects'] + spec['objects'] + spec['adjectives'] + spec['places']
          + [w for pair in spec['verbs'] for w in pair])


def _build_vocabulary():
  words = []
  for topic in TOPICS:
    words += topic_words(topic)
  words += (_DETERMINERS + _OBJ_DETERMINERS + _GENERAL_ADJECTIVES + _ADVERBS
            + _TIME['present'] + _TIME['past'] + _CONJUNCTIONS + _PREPOSITIONS
            + list(_PUNCTUATION))
  return ['<pad>', '<eos>', '<unk>'] + list(dict.fromkeys(words))


VOCABULARY = tuple(_build_vocabulary())
_WORD_TO_ID = {w: i for i, w in enumerate(VOCABULARY)}


class _Sampler:
  """Draws choices from a row of pre-drawn uniforms (fast, deterministic)."""

  def __init__(self, uniforms):
    self._u = uniforms
    self._i = 0

  def uniform(self):
    value = self._u[self._i]
    self._i += 1
    return value

  def choice(self, items):
    return items[int(self.uniform() * len(items))]

  def coin(self, p):
    return self.uniform() < p


def _sentence(sample, topic, tense, topic_purity=1.0):
  """One sentence (list of words) for a topic and tense index.

  Each topical word (subject, verb, object, topical adjective, place) comes from the
  sentence's topic with probability `topic_purity`, else from a topic drawn uniformly
  (possibly the same); at 1.0 no draw is spent on it.
  """
  tense_name = TENSES[tense]

  def topic_spec():
    if topic_purity < 1.0 and not sample.coin(topic_purity):
      return _TOPIC_WORDS[TOPICS[int(sample.uniform() * len(TOPICS))]]
    return _TOPIC_WORDS[TOPICS[topic]]

  def noun_phrase(kind, determiners):
    words = [sample.choice(determiners)]
    if sample.coin(0.6):
      words.append(sample.choice(topic_spec()['adjectives'] if sample.coin(0.7)
                                 else _GENERAL_ADJECTIVES))
    words.append(sample.choice(topic_spec()[kind]))
    return words

  def clause():
    words = noun_phrase('subjects', _DETERMINERS)
    words.append(sample.choice(topic_spec()['verbs'])[tense])
    words += noun_phrase('objects', _OBJ_DETERMINERS)
    return words

  words = []
  if sample.coin(0.25):
    words.append(sample.choice(_TIME[tense_name]))
  words += clause()
  if sample.coin(0.3):
    words.append(sample.choice(_ADVERBS))
  if sample.coin(0.5):
    words += [sample.choice(_PREPOSITIONS), 'the',
              sample.choice(topic_spec()['places'])]
  if sample.coin(0.45):
    words.append(sample.choice(_CONJUNCTIONS))
    words += clause()
  if sample.coin(0.25):
    words.append(sample.choice(_TIME[tense_name]))
  words.append('!' if sample.coin(0.1) else '.')
  return words


@registry.register_problem
class TextSynthetic(TextProblem):
  """Synthetic sentences whose words depend on a hidden topic (4) and tense (2).

  Gin parameters: max_length (32), num_train (8192), num_eval (1024), num_test (1024),
  seed (0), topic_purity (1.0: every topical word from the sentence's topic; below 1,
  each topical word is from a uniformly drawn topic with probability 1 - purity, so a
  decoder infers the topic only by pooling the sentence's words). Sentences have 6 to
  22 words plus EOS.
  """

  label_keys = ('topic', 'tense')
  factor_names = {'topic': TOPICS, 'tense': TENSES}

  def __init__(self, data_dir=None, max_length=32, num_train=8192, num_eval=1024,
               num_test=1024, seed=0, topic_purity=1.0):
    super().__init__(data_dir=data_dir)
    self.topic_purity = float(topic_purity)
    self._max_length = int(max_length)
    self.sizes = {'train': int(num_train), 'eval': int(num_eval), 'test': int(num_test)}
    self.seed = int(seed)
    self._cache = {}
    self._sentences = {}

  # Checked on use, not in the constructor, so that a bad gin value surfaces as a plain
  # one-line UserError from validate().
  def _check_args(self):
    if self._max_length < 2:
      raise UserError(f'text_synthetic.max_length must be at least 2, got '
                      f'{self._max_length}.')
    for split, n in self.sizes.items():
      if n < 1:
        raise UserError(f'text_synthetic.num_{split} must be positive, got {n}.')
    if not 0.0 <= self.topic_purity <= 1.0:
      raise UserError(f'text_synthetic.topic_purity must be in [0, 1], got '
                      f'{self.topic_purity}.')

  def validate(self):
    self._check_args()
    super().validate()

  @property
  def max_length(self):
    return self._max_length

  def factor_entropy_bits(self):
    """log2(4 topics × 2 tenses) = 3 bits: both uniform and independent."""
    return float(sum(math.log2(len(v)) for v in self.factor_names.values()))

  @property
  def vocab_size(self):
    return len(VOCABULARY)

  @property
  def vocabulary(self):
    return VOCABULARY

  def text_to_ids(self, text):
    return [_WORD_TO_ID.get(w, 2) for w in _TOKEN_RE.findall(text.lower())]

  def ids_to_text(self, ids):
    words = []
    for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
      if i == self.EOS_ID:
        break
      if i == self.PAD_ID:
        continue
      words.append(VOCABULARY[i] if 0 <= i < len(VOCABULARY) else '<unk>')
    return re.sub(r' ([.!,?])', r'\1', ' '.join(words))

  def sentences(self, split):
    """The generated sentences of `split` as strings (for inspection and tests)."""
    self.arrays(split)
    return self._sentences[split]

  def arrays(self, split):
    split = self._check_split(split)
    if split not in self._cache:
      self._check_args()
      self._cache[split] = self._generate(split)
    return self._cache[split]

  def _generate(self, split):
    n = self.sizes[split]
    rng = np.random.default_rng([self.seed, _SPLIT_INDEX[split]])
    topic = rng.integers(0, len(TOPICS), n)
    tense = rng.integers(0, len(TENSES), n)
    # A sentence uses at most 34 draws, 22 more when topical words may change topic.
    uniforms = rng.random((n, 40 if self.topic_purity == 1.0 else 64)).tolist()
    targets = np.zeros([n, self.max_length], np.int32)
    lengths = np.zeros([n], np.int64)
    texts = []
    for k in range(n):
      words = _sentence(_Sampler(uniforms[k]), int(topic[k]), int(tense[k]),
                        self.topic_purity)
      ids = [_WORD_TO_ID[w] for w in words][:self.max_length - 1] + [self.EOS_ID]
      targets[k, :len(ids)] = ids
      lengths[k] = len(ids)
      texts.append(self.ids_to_text(ids))
    mask = (np.arange(self.max_length)[None, :] < lengths[:, None]).astype(np.float32)
    self._sentences[split] = texts
    return {'targets': targets, 'mask': mask, 'topic': topic.astype(np.int32),
            'tense': tense.astype(np.int32)}
