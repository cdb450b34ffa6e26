"""Sigma rules compiled to this project's rule files (pySigma); correlation.py: correlation rules."""
