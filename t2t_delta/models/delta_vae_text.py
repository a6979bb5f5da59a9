"""`delta_vae_text`: the temporal δ-VAE for text (Razavi et al. 2019, §4.4, app. E.2).

Generative model, for a sentence x_1..x_L (L real tokens, EOS included) padded to
T = max_length:

    z = z_1..z_T ~ AR(1) prior (d dims, α_k linear in [alpha_lo, alpha_hi])
    p(x | z) = Π_t p(x_t | x_<t, z_<=t)           (causal Transformer decoder)

Inference: q(z | x) = Π_t N(z_t; μ_t(x), σ_t(x)), one d-dimensional latent per token
(σ = softplus(raw) + 1e-4 by default; `distributions.LatentSpec` holds the prior, the
posterior and their KL), from a Transformer encoder whose self-attention uses the
inverted (upper-triangular) causal mask, so z_t depends on tokens x_t..x_L only
('anti_causal'); the ablation 'non_causal' lets every z_t see the whole sentence.
With `encoder_pooling='future_mean'` (a departure from the paper, used by
gin/text_tiny.gin) z_t is read from the mean of the encoder's outputs over the real
tokens t..L rather than from position t alone: still anti-causal, and the posterior
means then change slowly along the sentence, like the AR(1) prior's paths, so
sentence-level information (a topic) is cheaper to carry than the next token.

How the decoder reads the latents. The decoder position that predicts x_t gets
(a) a projection of z_t added to its input embedding, and (b) cross-attention, in
every layer, over the projected latent sequence (plus position encodings) with a causal
mask: position t sees z_s for s <= t. (b) is the Transformer's encoder-decoder
attention, causally masked as in the paper's image decoder; z_s for s <= t are exactly
the latents that summarise x_t (they are computed from tokens >= s). The mask is causal
for both encoder structures: a decoder that looked at latents beyond t would have to
know the sentence length before generating it, while with the causal mask every real
position only ever sees latents at real positions, so the likelihood is a proper model
for any length and sampling needs no length.

Padding. Only the L real positions carry latents. Padded keys are hidden in the
encoder and the decoder, the decoder never sees latents at padded positions, and the
rate is the exact KL of the first L steps: the prior's marginal over steps 1..L is the
AR(1) process of length L, whose KL to the posterior's first L factors is the sum of
the first-step term and the transition terms i = 2..L of the closed form
(`distributions.masked_ar1_kl_per_dim`). Tokens after EOS therefore change nothing.
As a distribution over the whole window, `encode` returns the posterior on the real
steps continued by the prior after them (`distributions.PrefixPosterior`), whose KL
to the prior is exactly this rate.

Committed rate. `extras['committed_rate']` is δ(α, L) of each example's own length L
(the minimum of the rate above over all posteriors), so rate >= committed rate holds
per example. `committed_rate()` returns δ(α, max_length), the rate committed by a
sentence that fills the whole window; with `committed_rate_bits` set, alpha_hi is
solved so that δ(α, max_length) equals it.

Independent δ posterior (appendix D, `posterior_type='independent_delta'`). With a
standard normal prior, each latent dimension of each real step gets the constrained
posterior of `t2t_delta.distributions.independent_delta`, whose KL to N(0, 1) is at
least δ_dim = committed_rate_bits / (max_length d) (in nats), so a sentence of L real
tokens commits L d δ_dim.

Auxiliary prior. A single-layer LSTM prior is fitted to stop-gradient posterior samples
(`aux_loss`, masked like the rate); `extras['rate_aux']` is the single-sample estimate
Σ_{t<=L} [log q(z_t|x) - log p_aux(z_t|z_<t)] (the LSTM is causal, so masking the tail
gives the first-L-steps quantity exactly).
"""

import tensorflow as tf
import tensorflow_probability as tfp

from t2t_delta import distributions
from t2t_delta import registry
from t2t_delta.errors import UserError
from t2t_delta.layers import core
from t2t_delta.layers import transformer
from t2t_delta.models import base
from t2t_delta.models import text_common

tfd = tfp.distributions

ENCODER_STRUCTURES = ('anti_causal', 'non_causal')
ENCODER_POOLINGS = ('none', 'future_mean')


def future_mean(h, mask):
  """Anti-causal running mean: out_t = mean of h_s over real s >= t.

  h: [B, T, H]; mask: [B, T] (1 at real tokens). Positions after the sentence get
  zeros. out_t depends on h_t..h_L only, so an anti-causal encoder stays
  anti-causal. Summed in float32 whatever h's dtype; returned in h's dtype.
  """
  mask = tf.cast(mask, tf.float32)[..., tf.newaxis]
  total = tf.cumsum(tf.cast(h, tf.float32) * mask, axis=1, reverse=True)
  count = tf.cumsum(mask, axis=1, reverse=True)
  return tf.cast(total / tf.maximum(count, 1.0) * mask, h.dtype)


@registry.register_model
class DeltaVaeText(base.DeltaVaeModel, base.TextDecoderModel):
  """δ-VAE for text: anti-causal Transformer encoder, AR(1) prior, Transformer decoder.

  Args (gin `delta_vae_text.*`):
    problem: a `TextProblem`.
    num_layers, hidden_size, filter_size, num_heads, dropout_rate: decoder size
      (table 5: 4, 512, 2048, 8, 0.1).
    token_dropout: probability of hiding each decoder input token during training
      (`text_common.drop_tokens`; 0, the paper's setting, turns it off).
    encoder_layers: encoder depth (default: num_layers); the encoder has the
      decoder's width.
    latent_dim: d, latent dimensions per token (table 5: 2).
    alpha_lo, alpha_hi: AR(1) coefficients spaced linearly over the d dimensions
      (table 5: [0.2, 0.4]).
    committed_rate_bits: if set, alpha_hi is solved so that the committed rate of a
      max_length sequence is this many bits (alpha_lo kept).
    aux_hidden: LSTM size of the auxiliary prior.
    encoder_structure: 'anti_causal' (z_t sees tokens >= t) or 'non_causal'.
    encoder_pooling: 'none' (the paper's: z_t from the encoder's output at t) or
      'future_mean' (z_t from the mean of the encoder's outputs at real positions
      s >= t, `future_mean`; the text analogue of the image encoder's average
      pooling over a row). Pooling keeps the anti-causal structure and makes the
      posterior means vary slowly along the sentence, as the AR(1) prior does;
      a departure from the paper.
    prior_type: 'ar1' or 'standard_normal' (alphas 0: no committed rate; a plain
      VAE).
    posterior_type: 'mean_field', or 'independent_delta' (appendix D: each latent
      dimension's KL to N(0, 1) is at least committed_rate_bits / (max_length * d);
      needs prior_type='standard_normal' and committed_rate_bits).
    posterior_init: 'small' (the posterior head at 0.1 of its Glorot scale: q starts
      near N(0, scale(0)), almost independent of x) or 'informative' (the mean
      head at Glorot scale and each dimension's scale at the optimum of its KL for
      an x-independent mean, `LatentSpec.initialize_posterior_head`).
    posterior_scale: 'softplus' (default: softplus(raw) + 1e-4) or 'exp' (the image
      model's): the mean-field posterior's scale from the encoder's raw output.
    compute_dtype: 'auto' (bfloat16 on TPU, else float32), 'float32' or 'bfloat16'
      activations (variables stay float32).
    seed: int seed of the initial weights.
  """

  def __init__(self, problem, num_layers=4, hidden_size=512, filter_size=2048,
               num_heads=8, dropout_rate=0.1, token_dropout=0.0, latent_dim=2,
               alpha_lo=0.2, alpha_hi=0.4, committed_rate_bits=None, aux_hidden=256,
               encoder_structure='anti_causal', encoder_pooling='none',
               prior_type='ar1', encoder_layers=None,
               posterior_type='mean_field', posterior_init='small',
               posterior_scale='softplus', compute_dtype='auto', seed=0, name=None):
    super().__init__(problem, name=name)
    text_common.check_text_problem(problem, 'delta_vae_text')
    text_common.check_heads(hidden_size, num_heads)
    if encoder_structure not in ENCODER_STRUCTURES:
      raise UserError(f'delta_vae_text.encoder_structure={encoder_structure!r}; '
                      f'valid: {", ".join(ENCODER_STRUCTURES)}.')
    if encoder_pooling not in ENCODER_POOLINGS:
      raise UserError(f'delta_vae_text.encoder_pooling={encoder_pooling!r}; '
                      f'valid: {", ".join(ENCODER_POOLINGS)}.')
    self.encoder_pooling = encoder_pooling
    model_name = self.registered_name or 'delta_vae_text'
    self.token_dropout = text_common.check_token_dropout(token_dropout, model_name)
    self.latent = distributions.LatentSpec(
        model_name, num_steps=int(problem.max_length), latent_dim=int(latent_dim),
        prior_type=prior_type, posterior_type=posterior_type, alpha_lo=alpha_lo,
        alpha_hi=alpha_hi, committed_rate_bits=committed_rate_bits,
        posterior_scale=posterior_scale, posterior_init=posterior_init)
    self.vocab_size = int(problem.vocab_size)
    self.max_length = int(problem.max_length)
    self.latent_dim = int(latent_dim)
    self.encoder_structure = encoder_structure
    self.compute_dtype = base.resolve_compute_dtype(compute_dtype, model_name)
    # δ(L) for every length L = 0..T, gathered per example.
    self._committed_table = tf.constant(
        [self.latent.committed_rate_nats(n) for n in range(self.max_length + 1)],
        tf.float32)

    seeds = core.SeedSequence(seed)
    with self.name_scope:
      self.encoder = transformer.TransformerEncoder(
          self.vocab_size, self.max_length, encoder_layers or num_layers, hidden_size,
          filter_size, num_heads, dropout_rate, structure=encoder_structure,
          seeds=seeds, name='encoder')
      # Small initial weights: the posterior starts near N(0, scale(0)), so the
      # initial rate is close to the committed rate.
      self.posterior_head = core.Dense(hidden_size, 2 * self.latent_dim,
                                       init_scale=0.1, seeds=seeds,
                                       name='posterior_head')
      self.latent_memory = core.Dense(self.latent_dim, hidden_size, seeds=seeds,
                                      name='latent_memory')
      self.latent_input = core.Dense(self.latent_dim, hidden_size, seeds=seeds,
                                     name='latent_input')
      self.decoder = transformer.TransformerDecoder(
          self.vocab_size, self.max_length, num_layers, hidden_size, filter_size,
          num_heads, dropout_rate, memory_dim=hidden_size, memory_causal=True,
          seeds=seeds, name='decoder')
      self.aux_prior = distributions.LSTMPrior(
          self.max_length, self.latent_dim, aux_hidden, seed=seed, name='aux_prior')
    self._positions = transformer.sinusoidal_positions(self.max_length, hidden_size)
    self.latent.initialize_posterior_head(self.posterior_head)

  # ---- the three distributions --------------------------------------------------------
  def _posterior_params(self, targets, mask, training, seed):
    h = self.encoder(targets, padding=mask <= 0.0, training=training, seed=seed,
                     dtype=self.compute_dtype)
    if self.encoder_pooling == 'future_mean':
      h = future_mean(h, mask)
    return self.latent.posterior_params(self.posterior_head(h))

  def encode(self, features, training, seed):
    """q(z|x) over the window, event [T, d]: the encoder's Normal on the real steps,
    continued by the prior after them (`distributions.PrefixPosterior`), so its KL to
    the prior is the rate of the real prefix (see the module docstring)."""
    targets = tf.cast(features['targets'], tf.int32)
    mask = tf.cast(features['mask'], tf.float32)
    loc, scale = self._posterior_params(targets, mask, training, seed)
    return self.latent.posterior(loc, scale, mask)

  def likelihood(self, features, z, training, seed):
    """p(x|z): Categorical over each token, batch shape [B, T] (mask it yourself)."""
    targets = tf.cast(features['targets'], tf.int32)
    mask = tf.cast(features['mask'], tf.float32)
    logits = self._decoder_logits(text_common.shift_right(targets), z, mask <= 0.0,
                                  training, seed)
    return tfd.Categorical(logits=tf.cast(logits, tf.float32))

  # ---- the decoder's conditioning -----------------------------------------------------
  def _conditioning(self, z):
    """z [B, T, d] -> (memory [B, T, H], input offset [B, T, H])."""
    z = tf.cast(z, self.compute_dtype)
    memory = self.latent_memory(z) + tf.cast(self._positions, z.dtype)
    return memory, self.latent_input(z)

  def _decoder_logits(self, inputs, z, padding, training, seed):
    memory, offset = self._conditioning(z)
    return self.decoder(inputs, padding=padding, memory=memory, memory_padding=padding,
                        input_offset=offset, training=training, seed=seed,
                        dtype=self.compute_dtype)

  # ---- training terms -----------------------------------------------------------------
  def rate_per_dim(self, loc, scale, mask):
    """[B, d] KL over the real steps of each example."""
    return self.latent.kl_per_dim(loc, scale, mask)

  def example_committed_rate(self, mask):
    """[B] δ(α, L_b) for the real length L_b of each example."""
    lengths = tf.cast(tf.round(tf.reduce_sum(tf.cast(mask, tf.float32), -1)), tf.int32)
    return tf.gather(self._committed_table, lengths)

  def aux_log_prob(self, z, mask):
    """[B] masked log p_aux(z) (sum over real steps) on stop-gradient z."""
    z = tf.stop_gradient(tf.cast(z, tf.float32))
    loc, scale = self.aux_prior.conditionals(z)
    per_step = tf.reduce_sum(tfd.Normal(loc, scale).log_prob(z), axis=-1)
    return tf.reduce_sum(per_step * tf.cast(mask, tf.float32), axis=-1)

  def __call__(self, features, training, seed):
    targets = tf.cast(features['targets'], tf.int32)
    mask = tf.cast(features['mask'], tf.float32)
    padding = mask <= 0.0
    seed = tf.convert_to_tensor(seed, tf.int32)
    encoder_seed, sample_seed, decoder_seed, token_seed = (
        tf.random.experimental.stateless_fold_in(seed, i) for i in range(4))

    loc, scale = self._posterior_params(targets, mask, training, encoder_seed)
    z = self.latent.reparameterized_sample(loc, scale, sample_seed)

    inputs = text_common.decoder_inputs(targets, self.token_dropout, training,
                                        token_seed)
    logits = self._decoder_logits(inputs, z, padding, training, decoder_seed)
    distortion = text_common.token_distortion(logits, targets, mask)
    rate_per_dim = self.rate_per_dim(loc, scale, mask)

    aux_log_prob = self.aux_log_prob(z, mask)
    log_q = tf.reduce_sum(
        tf.reduce_sum(tfd.Normal(loc, scale).log_prob(z), axis=-1) * mask, axis=-1)
    rate_aux = tf.stop_gradient(log_q - aux_log_prob)
    return {
        'distortion': distortion,
        'rate': tf.reduce_sum(rate_per_dim, axis=-1),
        'rate_per_group': rate_per_dim,
        'aux_loss': -aux_log_prob,
        'extras': {
            'rate_aux': rate_aux,
            'committed_rate': self.example_committed_rate(mask),
        },
    }

  def committed_rate(self):
    """Committed rate of a max_length sentence in nats (0 for a plain VAE)."""
    return float(self._committed_table[-1].numpy())

  # ---- decoding interface (base.TextDecoderModel) ---------------------------------
  def _check_z(self, z):
    if z is None:
      raise ValueError('delta_vae_text decodes from latents: pass z [B, T, d] (e.g. '
                       'model.sample_prior(batch_size, seed)).')
    if z.shape[1:] != (self.max_length, self.latent_dim):
      raise ValueError(f'z must be [B, {self.max_length}, {self.latent_dim}], got '
                       f'{z.shape}.')

  def decode_logits(self, inputs, z=None, position=None):
    """Inference-mode logits [B, T, V] (or [B, V] at `position`) given z [B, T, d]."""
    self._check_z(z)
    memory, offset = self._conditioning(z)
    h = self.decoder.hidden(inputs, memory=memory, input_offset=offset,
                            dtype=self.compute_dtype)
    if position is not None:
      h = tf.gather(h, position, axis=1)
    return tf.cast(self.decoder.output_logits(h), tf.float32)

  def init_decode_cache(self, batch_size, z=None):
    self._check_z(z)
    memory, offset = self._conditioning(z)
    cache = self.decoder.init_cache(batch_size, memory=memory, dtype=self.compute_dtype)
    cache['input_offset'] = offset
    return cache

  def decode_step(self, ids, t, cache):
    offset = tf.gather(cache['input_offset'], t, axis=1)
    logits, cache = self.decoder.step(ids, t, cache, input_offset=offset,
                                      dtype=self.compute_dtype)
    return tf.cast(logits, tf.float32), cache
