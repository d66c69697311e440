"""Dissipative particle dynamics and molecules on the particle engine.

`pair` registers the Groot–Warren pair style ``"dpd"``; `tstat` adds the DPD
thermostat alone to another pair style (``[potential.dpd_tstat]``); `integrate` the
Groot–Warren modified velocity Verlet (``"groot-warren"``); `placement` builds
random fluids and linear chains; `bonded` holds harmonic bonds and angles;
`analysis` the radial distribution function and the blend structure factor.
"""
