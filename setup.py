"""t2t_delta: δ-VAEs and baselines for latent-variable models with autoregressive decoders."""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'README.md'), encoding='utf-8') as f:
  LONG_DESCRIPTION = f.read()

setup(
    name='t2t_delta',
    version='0.1.0',
    description='δ-VAEs: latent-variable generative models with autoregressive decoders '
                'that do not suffer posterior collapse (TensorFlow 2).',
    long_description=LONG_DESCRIPTION,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.11',
    packages=find_packages(include=['t2t_delta', 't2t_delta.*']),
    install_requires=[
        'tensorflow>=2.21,<2.22',
        'tensorflow-probability>=0.25,<0.26',
        'tf-keras>=2.21,<2.22',          # imported by tensorflow-probability 0.25
        'tensorflow-datasets>=4.9,<5',
        'gin-config>=0.5,<0.6',
        'sentencepiece>=0.2,<0.3',
        'absl-py>=2.0',
        'numpy>=1.26',
        'Pillow>=10',
        'matplotlib>=3.8',
        'scikit-learn>=1.4',
        'psutil>=5.9',
        'tensorboard>=2.20',           # tf.summary writers (not pulled in by tensorflow 2.21)
    ],
    extras_require={
        'test': ['pytest>=8'],
        # NVIDIA GPUs: TensorFlow's CUDA and cuDNN wheels, at the pinned TensorFlow.
        'gpu': ['tensorflow[and-cuda]>=2.21,<2.22'],
    },
    entry_points={'console_scripts': [
        't2t-delta-trainer=t2t_delta.train.cli:main',
        't2t-delta-decoder=t2t_delta.decode.cli:main',
        't2t-delta-eval=t2t_delta.evaluate.cli:main',
        't2t-delta-report=t2t_delta.evaluate.report:main',
    ]},
    classifiers=[
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
