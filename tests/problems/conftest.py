"""Fixtures for the problem tests: tiny prepared TFDS datasets written to temp dirs."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402
import tfds_mock  # noqa: E402  (tests/ is on sys.path, see tests/conftest.py)


@pytest.fixture
def write_prepared_tfds():
  return tfds_mock.write_prepared_tfds
