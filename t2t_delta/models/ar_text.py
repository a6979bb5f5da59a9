"""`ar_text`: a Transformer language model without latents (the δ-VAE's AR baseline).

Helpers the text models share (shifting targets right, the masked token distortion)
are in `t2t_delta.models.text_common`. The decoding interface the samplers in
`t2t_delta.decode.text_sampler` use is declared by `base.TextDecoderModel` (decoder
inputs are the targets shifted right; id 0 at position 0 is the start symbol, the
padding id doubling as BOS).
"""

import tensorflow as tf

from t2t_delta import registry
from t2t_delta.layers import core
from t2t_delta.layers import transformer
from t2t_delta.models import base
from t2t_delta.models import text_common


@registry.register_model
class ArText(base.TextDecoderModel):
  """Transformer language model p(x) = Π_t p(x_t | x_<t); rate 0.

  Args (gin `ar_text.*`):
    problem: a `TextProblem` (vocab_size, max_length).
    num_layers, hidden_size, filter_size, num_heads, dropout_rate: decoder size
      (table 5 of the δ-VAE paper: 4, 512, 2048, 8, 0.1).
    token_dropout: probability of hiding each decoder input token during training
      (`text_common.drop_tokens`; 0 turns it off). Bind the δ-VAE's value for a
      like-for-like baseline.
    compute_dtype: 'auto' (bfloat16 on TPU, else float32), 'float32' or 'bfloat16'
      activations (variables stay float32; see `base.resolve_compute_dtype`).
    seed: int seed of the initial weights.
  """

  def __init__(self, problem, num_layers=4, hidden_size=512, filter_size=2048,
               num_heads=8, dropout_rate=0.1, token_dropout=0.0, compute_dtype='auto',
               seed=0, name=None):
    super().__init__(problem, name=name)
    text_common.check_text_problem(problem, 'ar_text')
    text_common.check_heads(hidden_size, num_heads)
    self.vocab_size = int(problem.vocab_size)
    self.max_length = int(problem.max_length)
    model_name = self.registered_name or 'ar_text'
    self.token_dropout = text_common.check_token_dropout(token_dropout, model_name)
    self.compute_dtype = base.resolve_compute_dtype(compute_dtype, model_name)
    seeds = core.SeedSequence(seed)
    with self.name_scope:
      self.decoder = transformer.TransformerDecoder(
          self.vocab_size, self.max_length, num_layers, hidden_size, filter_size,
          num_heads, dropout_rate, seeds=seeds, name='decoder')

  def __call__(self, features, training, seed):
    targets = tf.cast(features['targets'], tf.int32)
    mask = tf.cast(features['mask'], tf.float32)
    seed = tf.convert_to_tensor(seed, tf.int32)
    inputs = text_common.decoder_inputs(
        targets, self.token_dropout, training,
        tf.random.experimental.stateless_fold_in(seed, 1))
    logits = self.decoder(inputs, padding=mask <= 0.0, training=training, seed=seed,
                          dtype=self.compute_dtype)
    distortion = text_common.token_distortion(logits, targets, mask)
    return {'distortion': distortion, 'rate': tf.zeros_like(distortion)}

  def committed_rate(self):
    return 0.0

  # ---- decoding interface -------------------------------------------------------------
  def decode_logits(self, inputs, z=None, position=None):
    """Inference-mode logits [B, T, V] for decoder inputs [B, T], or [B, V] at
    `position` (the output projection then runs on that position only)."""
    if z is not None:
      raise ValueError('ar_text has no latents; pass z=None.')
    h = self.decoder.hidden(inputs, dtype=self.compute_dtype)
    if position is not None:
      h = tf.gather(h, position, axis=1)
    return tf.cast(self.decoder.output_logits(h), tf.float32)

  def init_decode_cache(self, batch_size, z=None):
    if z is not None:
      raise ValueError('ar_text has no latents; pass z=None.')
    return self.decoder.init_cache(batch_size, dtype=self.compute_dtype)

  def decode_step(self, ids, t, cache):
    logits, cache = self.decoder.step(ids, t, cache, dtype=self.compute_dtype)
    return tf.cast(logits, tf.float32), cache
