"""Distributions and closed forms for delta-VAEs.

* `ar1`: the AR(1) prior, its exact KL to a mean-field Gaussian, the committed rate
  and the inverse problem (alphas for a requested rate).
* `independent_delta`: the constrained posterior of the independent delta-VAE.
* `dmol`: the discretized mixture of logistics over 8-bit images.
* `aux_prior`: the auxiliary LSTM prior fitted to posterior samples.
* `prefix_posterior`: the posterior of a variable-length latent sequence (text),
  continued by the prior beyond its real steps, and its KL over the real prefix.
* `latent_spec`: the latents of a δ-VAE (prior, posterior, scale function, KL,
  committed rate, continuation), checked and built in one place.

All rates and log-probabilities are in nats.
"""

from t2t_delta.distributions.ar1 import AR1Prior
from t2t_delta.distributions.ar1 import InfeasibleRateError
from t2t_delta.distributions.ar1 import MAX_ALPHA
from t2t_delta.distributions.ar1 import alphas_for_rate
from t2t_delta.distributions.ar1 import alphas_for_rate_bits
from t2t_delta.distributions.ar1 import ar1_kl
from t2t_delta.distributions.ar1 import ar1_kl_per_dim
from t2t_delta.distributions.ar1 import committed_rate
from t2t_delta.distributions.ar1 import committed_rate_bits_np
from t2t_delta.distributions.ar1 import committed_rate_np
from t2t_delta.distributions.ar1 import committed_rate_per_dim
from t2t_delta.distributions.ar1 import first_order_recurrence
from t2t_delta.distributions.ar1 import linear_alphas
from t2t_delta.distributions.ar1 import linear_alphas_np
from t2t_delta.distributions.ar1 import optimal_constant_scale_np
from t2t_delta.distributions.aux_prior import LSTMPrior
from t2t_delta.distributions.dmol import DiscretizedLogisticMixture
from t2t_delta.distributions.dmol import dmol_from_network_output
from t2t_delta.distributions.dmol import dmol_log_prob_per_pixel
from t2t_delta.distributions.dmol import dmol_log_prob_per_subpixel
from t2t_delta.distributions.dmol import dmol_num_params
from t2t_delta.distributions.dmol import sample_pixel
from t2t_delta.distributions.dmol import split_network_output
from t2t_delta.distributions.dmol import to_pixels
from t2t_delta.distributions.independent_delta import delta_per_dimension
from t2t_delta.distributions.independent_delta import feasible_sigma_interval
from t2t_delta.distributions.independent_delta import independent_delta_normal
from t2t_delta.distributions.independent_delta import \
    independent_delta_posterior_params
from t2t_delta.distributions.independent_delta import standard_normal_kl
from t2t_delta.distributions.latent_spec import LatentSpec
from t2t_delta.distributions.prefix_posterior import PrefixPosterior
from t2t_delta.distributions.prefix_posterior import ar1_kl_per_step
from t2t_delta.distributions.prefix_posterior import masked_ar1_kl_per_dim
from t2t_delta.distributions.prefix_posterior import \
    masked_standard_normal_kl_per_dim
