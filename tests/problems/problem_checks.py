"""Checks shared by the problem tests."""


def check_against_spec(problem, split):
  arrays = problem.arrays(split)
  spec = problem.feature_spec()
  assert set(arrays) == set(spec)
  n = problem.num_examples(split)
  for key, s in spec.items():
    assert arrays[key].dtype == s.dtype.as_numpy_dtype, key
    assert arrays[key].shape == (n,) + tuple(s.shape), key
  example = next(iter(problem.examples(split)))
  for key, s in spec.items():
    assert s.is_compatible_with(example[key]), key
