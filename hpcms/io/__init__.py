"""Files: thermo logs, timing, HDF5 inspection."""
