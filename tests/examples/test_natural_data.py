"""examples/natural_data.py: the real-sentence data it builds from the Python install."""

import pytest

import example_scripts


def test_documentation_sentences_are_distinct_short_and_split_one_in_ten():
  natural_data = example_scripts.load('natural_data')
  train, test = natural_data.documentation_sentences()
  # Python's documentation topics alone give about 1,300 sentences; the standard
  # library's docstrings bring ten times as many.
  assert len(train) > 5000
  assert abs(len(test) - (len(train) + len(test)) / 10) <= 1
  assert not set(train) & set(test)
  assert len(set(train)) == len(train)
  for sentence in train[:500] + test[:500]:
    assert 5 <= len(sentence.split()) <= 24 and sentence.isascii()
    assert sentence[0].isupper() and '\n' not in sentence


def test_sentences_of_splits_on_sentence_ends_and_filters_by_length():
  natural_data = example_scripts.load('natural_data')
  text = ('Short one. This sentence has exactly six words. lower case start is '
          'skipped here. Another valid sentence with enough words here!')
  assert natural_data._sentences_of(text) == [
      'This sentence has exactly six words.',
      'Another valid sentence with enough words here!']


def test_parts_flag_rejects_unknown_parts(monkeypatch, capsys):
  natural_data = example_scripts.load('natural_data')
  monkeypatch.setattr('sys.argv', ['natural_data.py', '--parts=audio'])
  with pytest.raises(SystemExit) as exit_info:
    natural_data.main()
  assert exit_info.value.code == 2
  assert 'images, text' in capsys.readouterr().err
