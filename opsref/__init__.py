"""opsref: the command line and what ties the layers together."""
