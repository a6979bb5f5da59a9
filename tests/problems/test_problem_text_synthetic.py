"""Embedded synthetic text problem: determinism, padding, topics, tense, purity."""

import numpy as np
import pytest
import tensorflow as tf

from t2t_delta.errors import UserError
from t2t_delta.problems import text_synthetic

from problem_checks import check_against_spec


def test_text_synthetic_shapes_determinism_labels():
  a = text_synthetic.TextSynthetic(num_train=300, num_eval=50, num_test=50)
  b = text_synthetic.TextSynthetic(num_train=300, num_eval=50, num_test=50)
  for split in ('train', 'eval', 'test'):
    check_against_spec(a, split)
    for key, value in a.arrays(split).items():
      np.testing.assert_array_equal(value, b.arrays(split)[key])
    arrays = a.arrays(split)
    assert set(np.unique(arrays['topic'])) <= {0, 1, 2, 3}
    assert set(np.unique(arrays['tense'])) <= {0, 1}
    assert arrays['targets'].max() < a.vocab_size
  assert a.vocab_size == len(text_synthetic.VOCABULARY) and 200 < a.vocab_size < 500
  assert text_synthetic.VOCABULARY[:3] == ('<pad>', '<eos>', '<unk>')
  assert a.unit == 'nats/token'
  a.validate()


def test_text_synthetic_padding_mask_units_roundtrip():
  p = text_synthetic.TextSynthetic(num_train=200, num_eval=20, num_test=20)
  arrays = p.arrays('train')
  lengths = arrays['mask'].sum(1).astype(int)
  assert lengths.min() >= 7 and lengths.max() <= 23    # 6..22 words + EOS
  for targets, mask, n in zip(arrays['targets'], arrays['mask'], lengths):
    assert targets[n - 1] == p.EOS_ID
    assert np.all(targets[:n - 1] > 2)                # no pad/eos/unk inside
    assert np.all(targets[n:] == p.PAD_ID)
    np.testing.assert_array_equal(mask, np.arange(p.max_length) < n)
  units = p.units_per_example({'mask': tf.constant(arrays['mask'][:4])})
  np.testing.assert_allclose(units.numpy(), lengths[:4])
  for sentence, targets in zip(p.sentences('train'), arrays['targets']):
    assert p.ids_to_text(targets) == sentence
    ids = p.text_to_ids(sentence)
    assert p.ids_to_text(ids) == sentence
    assert ids == targets[:len(ids)].tolist()
  assert p.text_to_ids('The Referee WON zzz.') == [
      p.text_to_ids('the')[0], p.text_to_ids('referee')[0], p.text_to_ids('won')[0], 2, p.text_to_ids('.')[0]]


def test_text_synthetic_topic_words_differ():
  p = text_synthetic.TextSynthetic(num_train=2000, num_eval=8, num_test=8)
  arrays = p.arrays('train')
  counts = np.zeros([4, p.vocab_size])
  for topic in range(4):
    ids = arrays['targets'][arrays['topic'] == topic]
    counts[topic] = np.bincount(ids.ravel(), minlength=p.vocab_size)
  present = counts[:, 3:] > 0
  # Most words that occur are specific to a single topic.
  assert np.mean(present.sum(0)[present.any(0)] == 1) > 0.6
  # Tense changes the verbs.
  past = set(arrays['targets'][arrays['tense'] == 1].ravel())
  present_tense = set(arrays['targets'][arrays['tense'] == 0].ravel())
  assert p.text_to_ids('won')[0] in past and p.text_to_ids('won')[0] not in present_tense


def test_text_synthetic_truncation_keeps_eos():
  p = text_synthetic.TextSynthetic(max_length=8, num_train=100, num_eval=8, num_test=8)
  arrays = p.arrays('train')
  assert arrays['targets'].shape == (100, 8)
  last = arrays['mask'].sum(1).astype(int) - 1
  assert np.all(arrays['targets'][np.arange(100), last] == p.EOS_ID)
  with pytest.raises(UserError, match='max_length'):
    text_synthetic.TextSynthetic(max_length=1).validate()


_TOPIC_VOCABULARY = {t: set(text_synthetic.topic_words(t)) for t in text_synthetic.TOPICS}


def _topical_word_topics(sentence):
  """The topic indices of the words of `sentence` that belong to exactly one topic."""
  found = []
  for word in text_synthetic._TOKEN_RE.findall(sentence):
    owners = [i for i, t in enumerate(text_synthetic.TOPICS)
              if word in _TOPIC_VOCABULARY[t]]
    if len(owners) == 1:
      found.append(owners[0])
  return found


@pytest.mark.parametrize('purity', [1.0, 0.5])
def test_text_topic_purity_is_the_share_of_topical_words_from_the_topic(purity):
  p = text_synthetic.TextSynthetic(num_train=8, num_eval=8, num_test=1024,
                                   topic_purity=purity)
  topics = p.arrays('test')['topic']
  own = total = 0
  for sentence, topic in zip(p.sentences('test'), topics):
    words = _topical_word_topics(sentence)
    own += sum(w == topic for w in words)
    total += len(words)
  # A word is drawn from the sentence's topic with probability purity, else from a
  # uniformly drawn topic (the same one a quarter of the time).
  assert own / total == pytest.approx(purity + (1 - purity) / 4, abs=0.02)
  assert total > 4 * len(topics)
  if purity == 1.0:     # the default: the same data as without the argument
    np.testing.assert_array_equal(
        p.arrays('test')['targets'],
        text_synthetic.TextSynthetic(num_train=8, num_eval=8,
                                     num_test=1024).arrays('test')['targets'])


def test_text_topic_purity_bounds():
  with pytest.raises(UserError, match='topic_purity'):
    text_synthetic.TextSynthetic(topic_purity=1.5).validate()
