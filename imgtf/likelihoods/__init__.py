"""Output distributions over 8-bit images, one module per likelihood (imgtf/likelihoods/likelihood.py says what one
is); models pick one by the `likelihood` hparam."""
